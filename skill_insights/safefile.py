"""Reading files that anyone could have put there: regular files only, never blocking, never unbounded.

The one place that opens such a file: `O_NONBLOCK` so that a FIFO or device named like a transcript, a
manifest or a config file cannot hang the reader, then `fstat` on the open descriptor (the type checked is
the type of what is read: no stat-then-open race), a size cap, and optionally `O_NOFOLLOW`.
"""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

_O_READ = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class NotRegularFile(ValueError):
    """The path names a FIFO, a device, a socket or a folder."""


class TooLarge(ValueError):
    """The file holds more than the reader's cap."""


def open_fd(path: str | os.PathLike[str], *, follow: bool = True, dir_fd: int | None = None) -> int:
    """A descriptor open for reading on a regular file. Raises OSError, or NotRegularFile."""
    fd = os.open(path, _O_READ if follow else _O_READ | O_NOFOLLOW, dir_fd=dir_fd)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFile(f"{os.fspath(path)}: not a regular file")
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_regular(path: str | os.PathLike[str], *, follow: bool = True) -> BinaryIO | None:
    """The file open for binary reading, or None when it is gone, unreadable or not a regular file."""
    try:
        return os.fdopen(open_fd(path, follow=follow), "rb")
    except (OSError, NotRegularFile):
        return None


def read_fd(fd: int, cap: int) -> bytes:
    """Up to `cap` bytes of an open descriptor; raises TooLarge when it holds more."""
    parts: list[bytes] = []
    total = 0
    while total <= cap and (chunk := os.read(fd, cap + 1 - total)):
        parts.append(chunk)
        total += len(chunk)
    if total > cap:
        raise TooLarge(f"over {cap} bytes")
    return b"".join(parts)


def read_prefix(path: str | os.PathLike[str], n: int, *, follow: bool = True) -> bytes:
    """At most the first `n` bytes of a file (a reader that refuses what is longer reads one byte past its
    limit). Raises OSError (missing, unreadable, a link refused) or NotRegularFile."""
    fd = open_fd(path, follow=follow)
    try:
        parts: list[bytes] = []
        total = 0
        while total < n and (chunk := os.read(fd, n - total)):
            parts.append(chunk)
            total += len(chunk)
        return b"".join(parts)
    finally:
        os.close(fd)


def read_capped(path: str | os.PathLike[str], cap: int, *, follow: bool = True) -> bytes:
    """A whole small file. Raises OSError (missing, unreadable, a link refused), NotRegularFile or TooLarge."""
    fd = open_fd(path, follow=follow)
    try:
        return read_fd(fd, cap)
    finally:
        os.close(fd)
