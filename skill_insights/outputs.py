"""The files skill-insights writes on the user's behalf (`scan -o`, `report -o`, settings.json): a guard and a writer.

Those writes go to a temporary file that is then renamed over the target (`write_atomic`). Renamed over
/dev/null, a FIFO or a device, that replaces the special file with a regular one (as root: /dev/null for the
whole system), so any target that exists and is not a regular file is refused before anything is written.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class NotRegularFile(OSError):
    """The output path is empty, or names something that exists and is not a regular file."""


def to_json(doc: object) -> str:
    """A document as the CLI prints it (indented JSON; orjson: the stdlib encoder with indent is ~20x slower)."""
    import orjson

    return orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode()


def check_output_path(path: Path | str) -> None:
    """Raise NotRegularFile unless `path` is absent or (through symlinks) a regular file."""
    if str(path) in ("", "."):  # Path("") is Path("."): an empty -o would mean the current directory
        raise NotRegularFile("empty output path")
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # nothing there yet (or a dangling symlink, or no way there): the write itself says why it fails
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "a special file")
        raise NotRegularFile(f"refusing to write {path}: it is {kind}, not a regular file")


def write_atomic(path: Path, data: bytes, mode: int | None = None, durable: bool = False) -> None:
    """Write `data` next to `path` and rename it over: a reader never sees half a file.

    The file is private (0600) unless `mode` says otherwise; `durable` syncs it to disk before the rename
    (a user's own configuration, which a crash must not leave empty).
    """
    commit(stage(path, data, mode, durable), path)


def stage(path: Path, data: bytes, mode: int | None = None, durable: bool = False) -> str:
    """The first half of `write_atomic`: `data` in a temporary file beside `path` (same folder, so the rename
    is atomic); its name. For a writer that waits between the halves (`scan -o` until the check passed)."""
    import tempfile  # here: `usage --json` imports this module for to_json and writes nothing

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=path.suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def commit(tmp: str, path: Path) -> None:
    """The second half of `write_atomic`: rename the staged file over `path` (removed if that fails)."""
    try:
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
