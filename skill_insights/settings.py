"""Where skill-insights keeps its files.

Every path comes from platformdirs, and `SKILL_INSIGHTS_HOME` overrides all of them at once: a test, a demo
or a second profile then lives entirely under one folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

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
    home = os.environ.get("SKILL_INSIGHTS_HOME")
    if home:
        root = Path(home).expanduser()
        return Paths(
            data_dir=root / "data",
            config_dir=root / "config",
            log_dir=root / "logs",
            reports_dir=root / "reports",
            runtime_dir=root / "run",
            cache_dir=root / "cache",
        )
    import platformdirs  # only without the override: every command pays for settings

    dirs = platformdirs.PlatformDirs(APP_NAME, appauthor=False)
    runtime = Path(locations.runtime_dir())
    return Paths(
        data_dir=Path(dirs.user_data_dir),
        config_dir=Path(dirs.user_config_dir),
        log_dir=Path(dirs.user_log_dir),
        reports_dir=Path(dirs.user_data_dir) / "reports",
        runtime_dir=runtime,
        cache_dir=Path(dirs.user_cache_dir),
    )


def claude_config_dir() -> Path:
    """`CLAUDE_CONFIG_DIR` moves `~/.claude` (verified with the real client)."""
    env = os.environ.get("CLAUDE_CONFIG_DIR")
    return Path(env).expanduser() if env else Path.home() / ".claude"


def default_projects_dirs() -> list[Path]:
    return [claude_config_dir() / "projects"]
