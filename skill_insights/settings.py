"""Where skill-insights keeps its files, and the user's config.json.

Every path comes from platformdirs, and `SKILL_INSIGHTS_HOME` overrides all of them at once: a test, a demo
or a second profile then lives entirely under one folder. The folders and what is in them are private to the
user (0700 folders, 0600 files): the store holds project paths, branches, remotes and slash commands.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skill_insights.hooks import locations

if TYPE_CHECKING:
    import pydantic

APP_NAME = "skill-insights"
PRIVATE_DIR = 0o700
# config.json is a few hundred bytes; anything past this is not a config file.
CONFIG_MAX_BYTES = 1024 * 1024
# What SQLite keeps beside the database.
DATABASE_COMPANIONS = ("-wal", "-shm", "-journal")


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
        """Make the folders (0700), and take group and other access away from the folders, the store, the config
        and the logs where an older version (or an editor) left them readable to all."""
        for folder in (
            self.data_dir,
            self.config_dir,
            self.log_dir,
            self.reports_dir,
            self.cache_dir,
            self.runtime_dir,
        ):
            private_dir(folder)
        files = [
            self.database,
            *(Path(f"{self.database}{s}") for s in DATABASE_COMPANIONS),
            self.config_file,
        ]
        try:
            with os.scandir(self.log_dir) as entries:
                files += [Path(e.path) for e in entries]
        except OSError:
            pass
        for f in files:
            private_file(f)
        return self


def private_dir(path: Path) -> None:
    """Make `path` (and missing parents) with the new folder 0700; an existing folder of ours loses group and
    other access. A symlink, or a folder of another user, is left as it is."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    _drop_group_and_other(path, stat.S_ISDIR)


def private_file(path: Path) -> None:
    """An existing regular file of ours (not through a symlink) loses group and other access."""
    _drop_group_and_other(path, stat.S_ISREG)


def _drop_group_and_other(path: Path, kind_test: Callable[[int], bool]) -> None:
    try:
        st = os.lstat(path)
        if kind_test(st.st_mode) and st.st_mode & 0o077 and st.st_uid == os.getuid():
            os.chmod(path, stat.S_IMODE(st.st_mode) & 0o700)
    except OSError:
        pass  # gone meanwhile, or not ours to change: what uses it says so if it matters


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


# -- config.json --------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def config_model() -> type[pydantic.BaseModel]:
    """The pydantic model of config.json: its known keys, each optional (the callers hold the defaults); keys it
    does not know are kept as they are. Built on first use, so commands that never read the config never
    import pydantic."""
    from pydantic import BaseModel, ConfigDict, NonNegativeFloat, PositiveFloat, PositiveInt

    class Section(BaseModel):
        model_config = ConfigDict(extra="allow")

    class Analysis(Section):
        stale_days: PositiveInt | None = None

    class Llm(Section):
        base_url: str | None = None
        model: str | None = None
        api_key_file: str | None = None
        timeout: PositiveFloat | None = None

    class Registry(Section):
        skills_api_url: str | None = None
        timeout: PositiveFloat | None = None
        cache_ttl_days: NonNegativeFloat | None = None

    class Config(Section):
        report_keep: PositiveInt | None = None
        tessl_registry_url: str | None = None
        session_start_context: str | None = None  # read by the hook itself, which cannot import this
        analysis: Analysis | None = None
        llm: Llm | None = None
        registry: Registry | None = None

    return Config


def read_config(path: Path | None = None) -> dict[str, Any]:
    """The user's config.json as a dict of the keys it sets, values checked by `config_model()`.

    {} when it is missing. Never blocks and never raises: a FIFO, a device, a file over 1 MiB, invalid JSON
    or not an object gives one warning line on stderr naming the file, and the defaults; a known key with a
    bad value is dropped with a warning, the rest kept.
    """
    file = path or get_paths().config_file
    from skill_insights import safefile

    try:
        raw = safefile.read_capped(file, CONFIG_MAX_BYTES)
    except FileNotFoundError:
        return {}
    except safefile.NotRegularFile:
        return _unusable(file, "is not a regular file")
    except safefile.TooLarge:
        return _unusable(file, f"is larger than {CONFIG_MAX_BYTES // 1024 // 1024} MiB")
    except OSError as e:
        return _unusable(file, f"cannot be read ({e.strerror or e})")
    import json

    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError) as e:  # bad UTF-8 included; nesting too deep for the parser
        return _unusable(file, f"is not valid JSON ({_one_line(str(e))})")
    if not isinstance(doc, dict):
        return _unusable(file, f"is not a JSON object (it holds {type(doc).__name__})")
    return _validated(file, doc)


def _validated(file: Path, doc: dict[str, Any]) -> dict[str, Any]:
    from pydantic import ValidationError

    model = config_model()
    try:
        return model.model_validate(doc).model_dump(exclude_unset=True)
    except ValidationError as e:
        errors = e.errors()
    ignored = []
    for err in errors:
        loc = [str(part) for part in err["loc"]]
        _drop(doc, loc)
        ignored.append(f"{'.'.join(loc)} ({_one_line(err['msg'])})")
    _warn(file, f"ignores {'; '.join(ignored)}")
    try:
        return model.model_validate(doc).model_dump(exclude_unset=True)
    except ValidationError:
        return {}


def _drop(doc: dict[str, Any], loc: list[str]) -> None:
    """Remove the value at `loc` (keys into nested objects); the top-level key when the path goes elsewhere."""
    parent: Any = doc
    for key in loc[:-1]:
        parent = parent.get(key) if isinstance(parent, dict) else None
    if isinstance(parent, dict) and loc and loc[-1] in parent:
        del parent[loc[-1]]
    elif loc:
        doc.pop(loc[0], None)


def _unusable(file: Path, why: str) -> dict[str, Any]:
    _warn(file, f"{why}; using the defaults")
    return {}


_warned: set[str] = set()


def _warn(file: Path, message: str) -> None:
    # Once per process: one command may read the config several times (report, scan, analysis).
    line = f"warning: {file} {message}"
    if line not in _warned:
        _warned.add(line)
        sys.stderr.write(line + "\n")


def _one_line(text: str) -> str:
    return " ".join(text.split())[:200]


def claude_config_dir() -> Path:
    """`CLAUDE_CONFIG_DIR` moves `~/.claude` (verified with the real client)."""
    env = os.environ.get("CLAUDE_CONFIG_DIR")
    return Path(env).expanduser() if env else Path.home() / ".claude"


def default_projects_dirs() -> list[Path]:
    return [claude_config_dir() / "projects"]
