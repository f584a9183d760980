"""The one rule for "is this transcript inside the projects folders", for every way a path reaches capture.

A hook payload, a spooled payload, a file event and the CLI's discovery each name transcript paths; a path
is taken only if, with every symlink resolved on both sides, it is a regular `.jsonl` file inside one of the
projects folders. It is then spelled under that folder as configured (not resolved), so a file has one
spelling, and one row in the store, however it was reached. Standard library only.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable

StrPath = str | os.PathLike


def _absolute(path: object) -> str | None:
    """An absolute, normalized str path, or None for anything that cannot be one (not a path, a NUL,
    relative, not encodable for the file system)."""
    if isinstance(path, os.PathLike):
        try:
            path = os.fspath(path)
        except (TypeError, ValueError):
            return None
    if not isinstance(path, str) or not path or "\0" in path or not os.path.isabs(path):
        return None
    try:
        os.fsencode(path)  # a lone surrogate would only fail later, inside a system call
    except UnicodeError:
        return None
    return os.path.normpath(path)


def _real(path: str) -> str | None:
    try:
        return os.path.realpath(path)
    except (OSError, ValueError):
        return None


class ProjectRoots:
    """The projects folders, resolved once; then `transcript()` / `folder()` per path.

    Resolved parent folders are remembered for the object's life, so checking every file of a discovery
    costs one lstat per file: make one per pass (a discovery, a daemon turn), not one for the process.
    """

    def __init__(self, roots: Iterable[StrPath]):
        self.roots: list[tuple[str, str]] = []  # (resolved, as given but absolute)
        for root in roots:
            try:
                given = _absolute(os.path.abspath(root)) if isinstance(root, str | os.PathLike) and root else None
            except (TypeError, ValueError, OSError):
                given = None
            real = _real(given) if given else None
            if given is not None and real is not None:
                self.roots.append((real, given))
        self._dirs: dict[str, str | None] = {}

    def fresh(self) -> ProjectRoots:
        """The same roots as resolved when this object was made, with nothing else remembered: a long-lived
        process (the daemon) keeps the folders it was started on even if one is later replaced by a link."""
        copy = ProjectRoots(())
        copy.roots = list(self.roots)
        return copy

    def _spelled(self, real: str) -> str | None:
        """`real` spelled under the first root holding it (a root itself included), else None."""
        for real_root, given in self.roots:
            if real == real_root:
                return given
            prefix = real_root if real_root.endswith(os.sep) else real_root + os.sep
            if real.startswith(prefix):
                return given.rstrip(os.sep) + os.sep + real[len(prefix) :]
        return None

    def _real_dir(self, path: str) -> str | None:
        if path not in self._dirs:
            self._dirs[path] = _real(path)
        return self._dirs[path]

    def transcript(self, path: object) -> str | None:
        """`path` spelled under the projects folder it belongs to, or None when it is not a transcript there.

        None for: a non-path value, a NUL, a relative path, a name not ending in `.jsonl`, a path that after
        resolving its links (and the roots') is outside every root, or anything but a regular file (a FIFO
        would block the reader). A root may also be one transcript file (`ingest --file`): then that file is
        in. Never raises.
        """
        given = _absolute(path)
        if given is None or not given.endswith(".jsonl"):
            return None
        try:
            st = os.lstat(given)
            if stat.S_ISLNK(st.st_mode):
                real = _real(given)
                st = os.stat(real) if real else st
            else:
                head, _, name = given.rpartition(os.sep)
                parent = self._real_dir(head or os.sep)
                real = (parent.rstrip(os.sep) + os.sep + name) if parent else None
        except (OSError, ValueError):
            return None
        if real is None or not real.endswith(".jsonl") or not stat.S_ISREG(st.st_mode):
            return None
        return self._spelled(real)

    def folder(self, path: object) -> str | None:
        """A folder's spelling under the projects folder holding it (a root included), or None: what the
        daemon's watcher may walk. A link that leads out of the roots (to another tree, to `/`) is None."""
        given = _absolute(path)
        real = _real(given) if given else None
        if real is None:
            return None
        try:
            if not stat.S_ISDIR(os.stat(real).st_mode):
                return None
        except (OSError, ValueError):
            return None
        return self._spelled(real)


def inside_projects(path: StrPath, roots: Iterable[StrPath] | ProjectRoots) -> str | None:
    """`path` spelled under the projects folder it belongs to, or None: see `ProjectRoots.transcript`.

    Pass a `ProjectRoots` to check many paths against roots resolved once."""
    checker = roots if isinstance(roots, ProjectRoots) else ProjectRoots(roots)
    return checker.transcript(path)


def folder_inside_projects(path: StrPath, roots: Iterable[StrPath] | ProjectRoots) -> str | None:
    """A folder inside the projects folders, spelled under its root, or None: see `ProjectRoots.folder`."""
    checker = roots if isinstance(roots, ProjectRoots) else ProjectRoots(roots)
    return checker.folder(path)
