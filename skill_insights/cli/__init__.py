"""The `skill-insights` command line: thin click commands that call into the packages.

The root group and what its commands share live in `shared`; each module registers its commands on it when
imported here.
"""

from skill_insights.cli import org, skills, system, usage  # noqa: F401  # each registers its commands on `cli`
from skill_insights.cli.shared import cli

__all__ = ["cli"]
