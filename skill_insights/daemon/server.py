"""The daemon's unix socket: hook payloads and our CLI's status requests, read without blocking the loop.

Clients send one payload and shut down their write side; the server hands each complete payload to the
daemon's callback, which may answer (a status request) or not (a hook nudge). A client that sends no EOF in
time, or more than a payload may hold, is dropped.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import socket
import time
from collections.abc import Callable

from skill_insights.hooks import locations

log = logging.getLogger("skill_insights.daemon")


class _Conn:
    __slots__ = ("buf", "deadline", "sock")

    def __init__(self, sock: socket.socket, deadline: float):
        self.sock = sock
        self.buf = bytearray()
        self.deadline = deadline


class SocketServer:
    CONN_TIMEOUT_S = 5.0

    def __init__(
        self, sel: selectors.BaseSelector, on_payload: Callable[[bytes], bytes | None], on_oversized: Callable[[], None]
    ):
        self._sel = sel
        self._on_payload = on_payload
        self._on_oversized = on_oversized
        self._conns: dict[int, _Conn] = {}
        self._listener: socket.socket | None = None
        self._socket_stat: os.stat_result | None = None
        self.path: str | None = None

    def listen(self) -> None:
        """Bind the socket (0600), or log why not and leave the daemon in spool-only mode."""
        path = locations.socket_path()
        if len(os.fsencode(path)) > locations.MAX_SOCKET_PATH:
            log.warning(
                "socket path too long (%d bytes > %d): spool-only mode (%s)",
                len(os.fsencode(path)),
                locations.MAX_SOCKET_PATH,
                locations.spool_dir(),
            )
            return
        # We hold the instance lock, so any socket file here is a leftover of a killed daemon.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            old = os.umask(0o177)  # the socket file is created 0600
            try:
                s.bind(path)
            finally:
                os.umask(old)
            s.listen(128)
            s.setblocking(False)
        except OSError:
            s.close()
            log.exception("cannot listen on %s: spool-only mode", path)
            return
        self._listener = s
        self._socket_stat = os.stat(path)
        self.path = path
        self._sel.register(s, selectors.EVENT_READ, "listen")
        log.info("listening on %s", path)

    def next_deadline(self) -> float | None:
        return min((c.deadline for c in self._conns.values()), default=None)

    def accept(self) -> None:
        assert self._listener is not None
        while True:
            try:
                conn, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                log.exception("accept failed")
                return
            conn.setblocking(False)
            self._conns[conn.fileno()] = _Conn(conn, time.monotonic() + self.CONN_TIMEOUT_S)
            self._sel.register(conn, selectors.EVENT_READ, "conn")

    def _close_conn(self, fd: int) -> None:
        c = self._conns.pop(fd, None)
        if c is None:
            return
        with contextlib.suppress(KeyError, ValueError):
            self._sel.unregister(c.sock)
        with contextlib.suppress(OSError):
            c.sock.close()

    def read(self, fd: int) -> None:
        c = self._conns.get(fd)
        if c is None:
            return
        try:
            data = c.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if data:
            c.buf += data
            if len(c.buf) > locations.MAX_PAYLOAD:
                self._on_oversized()
                log.info("dropped an oversized payload")
                self._close_conn(fd)
            return
        # EOF: the client shut down its write side; the payload is complete.
        try:
            answer = self._on_payload(bytes(c.buf))
            if answer is not None:
                with contextlib.suppress(OSError):
                    c.sock.setblocking(True)
                    c.sock.settimeout(1.0)
                    c.sock.sendall(answer)
        finally:
            self._close_conn(fd)

    def expire(self) -> None:
        now = time.monotonic()
        for fd, c in list(self._conns.items()):
            if c.deadline <= now:
                log.info("closed a client that sent no EOF within %.0fs", self.CONN_TIMEOUT_S)
                self._close_conn(fd)

    def close(self) -> None:
        for c in list(self._conns.values()):
            with contextlib.suppress(OSError):
                c.sock.close()
        self._conns.clear()
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.close()
            # Only remove the socket file if it is still the one we bound.
            with contextlib.suppress(OSError):
                if self.path and self._socket_stat and os.path.samestat(os.stat(self.path), self._socket_stat):
                    os.unlink(self.path)
