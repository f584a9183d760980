"""Where skill-insights keeps its files.

Every path comes from platformdirs, and `SKILL_INSIGHTS_HOME` overrides all of them at once: a test, a demo
or a second profile then lives entirely under one folder.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skill_insights.hooks import locations

APP_NAME = "skill-insights"


@dataclass(frozen=True)
class Paths:
    data_dir: Path
    config_dir: Path
    log_dir: Path
    reports_dir: Path
    runtime_dir: Path
    cache_dir: Path

    @property
    def database(self) -> Path:
        return self.data_dir / "skill-insights.db"

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.json"

    @property
    def prices_file(self) -> Path:
        """A user price table loaded by `pricing update`; overrides the bundled one."""
        return self.data_dir / "prices.json"

    def ensure(self) -> Paths:
        for p in (self.data_dir, self.config_dir, self.log_dir, self.reports_dir, self.cache_dir):
            p.mkdir(parents=True, exist_ok=True)
        self.runtime_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self


def get_paths() -> Paths:
    # The runtime and config dirs come from `locations`, which the hook uses too (it cannot import platformdirs).
    runtime, config = Path(locations.runtime_dir()), Path(locations.config_dir())
    home = locations.home_override()
    if home:
        root = Path(home).expanduser()
        return Paths(
            data_dir=root / "data",
            config_dir=config,
            log_dir=root / "logs",
            reports_dir=root / "reports",
            runtime_dir=runtime,
            cache_dir=root / "cache",
        )
    import platformdirs  # only without the override: every command pays for settings

    dirs = platformdirs.PlatformDirs(APP_NAME, appauthor=False)
    return Paths(
        data_dir=Path(dirs.user_data_dir),
        config_dir=config,
        log_dir=Path(dirs.user_log_dir),
        reports_dir=Path(dirs.user_data_dir) / "reports",
        runtime_dir=runtime,
        cache_dir=Path(dirs.user_cache_dir),
    )


def read_config(path: Path | None = None) -> dict[str, Any]:
    """The user's config.json as a dict; {} when it is missing, unreadable or not an object."""
    try:
        doc = json.loads((path or get_paths().config_file).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def claude_config_dir() -> Path:
    """`CLAUDE_CONFIG_DIR` moves `~/.claude` (verified with the real client)."""
    env = os.environ.get("CLAUDE_CONFIG_DIR")
    return Path(env).expanduser() if env else Path.home() / ".claude"


def default_projects_dirs() -> list[Path]:
    return [claude_config_dir() / "projects"]
