"""The hook's hot path: what runs inside Claude Code's SessionStart/SessionEnd hooks.

Claude Code waits for every hook and kills SessionEnd hooks that take long, so this module imports only
cheap built-in modules (no `re`, `json`, `socket`, `subprocess`, `tempfile`: each would be a visible
share of the hook's start; bench/hook.py measures it) and never blocks on anything but a short socket
connect. It always exits 0 and prints nothing on stdout
except the user's configured SessionStart context line. Each run leaves one line in `locations.hook_log()`.

It runs two ways: as a plain script via `entry.py` (the command `install` writes; `locations` is then a
top-level module next to it) and inside the package via `skill-insights hook …`.
"""

from __future__ import annotations

import os
import stat  # already loaded by os
import sys
import time

if __package__:
    from . import locations
else:  # run as a script from entry.py: the hooks folder is sys.path[0]
    import locations  # type: ignore[import-not-found,no-redef]

EVENTS = ("session-start", "session-end")
CONNECT_TIMEOUT = 0.2
LOG_MAX_BYTES = 256 * 1024
CONTEXT_MAX_CHARS = 2000
# `-P`: a `skill_insights` folder in the user's project (the hook's cwd) must never shadow the package.
INGEST_ARGS = ("-P", "-m", "skill_insights", "ingest-spool")
DAEMON_ARGS = ("-P", "-m", "skill_insights", "daemon", "run")


# -- small helpers ----------------------------------------------------------------------------------------


def private_dir(path: str) -> bool:
    """Create a 0700 directory, or accept an existing one only if we own it (the /tmp fallback is shared)."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.lstat(path)
    except OSError:
        return False
    if st.st_uid != os.getuid() or not stat.S_ISDIR(st.st_mode):
        return False
    if st.st_mode & 0o077:
        try:
            os.chmod(path, 0o700)
        except OSError:
            return False
    return True


def log(event: str, message: str) -> None:
    """Append one line to the hook log, rotating it (one `.1` generation) once it passes LOG_MAX_BYTES."""
    try:
        if not private_dir(locations.runtime_dir()):
            return
        path = locations.hook_log()
        try:
            if os.stat(path).st_size > LOG_MAX_BYTES:
                os.replace(path, path + ".1")
        except FileNotFoundError:
            pass
        flat = " ".join(message.split())
        line = f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')} {event} pid={os.getpid()} {flat}\n"
        # O_NONBLOCK: a FIFO put where the log belongs fails the open (ENXIO) instead of hanging the hook.
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK, 0o600)
        try:
            os.write(fd, line.encode("utf-8", "replace"))
        finally:
            os.close(fd)
    except OSError:
        pass  # a hook must never fail because its log cannot be written


class _JSONContext:
    """What `_json.make_scanner` reads from json.JSONDecoder, without importing json (which imports re)."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = float
    memo: dict = {}  # noqa: RUF012 - read by the C scanner, never mutated here


def parse_object(raw: bytes) -> dict | None:
    """A JSON object from bytes, or None for anything else. Uses the C scanner directly: microseconds."""
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        return None
    if not text.startswith("{"):
        return None
    try:
        import _json

        obj, end = _json.make_scanner(_JSONContext())(text, 0)  # type: ignore[arg-type]  # duck-typed context
    except ImportError:  # an interpreter without the C accelerator: pay for json once
        import json

        try:
            obj, end = json.loads(text), len(text)
        except ValueError:
            return None
    except Exception:  # StopIteration, ValueError, or SystemError from the C scanner on malformed input
        return None
    if end != len(text) or not isinstance(obj, dict):
        return None
    return obj


def read_stdin(limit: int) -> bytes:
    """Up to `limit` bytes of stdin; nothing from a terminal (someone ran the hook by hand).

    Through sys.stdin (not fd 0) so the in-process CLI, where click may have replaced stdin, reads the same.
    """
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:
        return b""
    try:
        if stream.isatty():
            return b""
        return stream.read(limit) or b""
    except (OSError, ValueError):
        return b""


def spawn_detached(args: tuple[str, ...]) -> None:
    """Start `python args…` in its own session with /dev/null stdio and return at once.

    The child must not inherit our stdout/stderr pipes (Claude Code would wait for them to close) nor our
    process group (Claude Code may kill it when the hook times out). posix_spawn avoids importing subprocess.
    """
    argv = [sys.executable, *args]
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
    ]
    try:
        os.posix_spawn(sys.executable, argv, dict(os.environ), file_actions=actions, setsid=True)
    except (AttributeError, NotImplementedError):  # no posix_spawn/setsid here: the slower portable way
        import subprocess

        subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
        )


def read_small_file(path: str, limit: int) -> bytes | None:
    """Up to `limit` bytes of a regular file, or None. Non-blocking open: a FIFO (or a device) put where a
    config file belongs must not hang the hook; anything but a regular file is not read at all."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks: list[bytes] = []
        left = limit
        while left > 0:
            chunk = os.read(fd, left)
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


# -- session-end ------------------------------------------------------------------------------------------


def send_to_daemon(raw: bytes) -> str | None:
    """Hand the raw payload to the daemon. None on success, else why not (then the caller spools)."""
    path = locations.socket_path()
    if len(os.fsencode(path)) > locations.MAX_SOCKET_PATH:
        return f"socket path too long ({len(os.fsencode(path))} bytes)"
    if not os.path.exists(path):
        return "no daemon socket"
    import _socket  # the C module: `socket` adds its enum setup to every hook run

    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.settimeout(CONNECT_TIMEOUT)
        sock.connect(path)
        sock.sendall(raw)
        sock.shutdown(_socket.SHUT_WR)
    except OSError as e:
        return f"daemon socket unusable ({e.__class__.__name__}: {e})"
    finally:
        sock.close()
    return None


def spool(raw: bytes) -> str:
    """Write the payload into the spool dir atomically (tmp file, then rename). Returns the final path."""
    directory = locations.spool_dir()
    if not private_dir(locations.runtime_dir()) or not private_dir(directory):
        raise OSError(f"cannot use spool dir {directory}")
    name = f"{time.time_ns()}-{os.getpid()}.json"
    tmp = os.path.join(directory, f".{name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            view = memoryview(raw)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
    except BaseException:  # a full disk (or a kill): no half-written file left behind for the drainers
        try:  # noqa: SIM105 - contextlib is not loaded in the hook's interpreter: an import for one line
            os.unlink(tmp)
        except OSError:
            pass
        raise
    final = os.path.join(directory, name)
    os.replace(tmp, final)
    return final


def session_end(raw: bytes) -> str:
    """Returns the log message."""
    if not raw.strip():
        return "empty stdin, nothing to do"
    if len(raw) > locations.MAX_PAYLOAD:
        return f"payload over {locations.MAX_PAYLOAD} bytes, ignored"
    doc = parse_object(raw)
    if doc is None:
        return f"stdin is not a JSON object ({len(raw)} bytes), ignored"
    transcript = doc.get("transcript_path")
    if not isinstance(transcript, str) or not transcript:
        return "payload has no transcript_path, ignored"
    if not os.path.isfile(transcript):
        # A failed --resume ends like this (verified): there is nothing to capture.
        return f"transcript missing: {transcript}"
    why = send_to_daemon(raw)
    if why is None:
        return f"handed to daemon: {transcript}"
    try:
        path = spool(raw)
    except OSError as e:  # a full disk: the next reconcile of a running daemon still finds the transcript
        return f"{why}; cannot spool ({e.__class__.__name__}: {e}), payload dropped: {transcript}"
    spawn_detached(INGEST_ARGS)
    return f"{why}; spooled {os.path.basename(path)} and started a one-file ingest: {transcript}"


# -- session-start ----------------------------------------------------------------------------------------


def daemon_running() -> tuple[bool, int | None]:
    """(running, pid in the pid file). Running means some process holds the daemon's flock on its pid file.

    A pid that is merely alive proves nothing (after a SIGKILL or a reboot the pid is reused by unrelated
    processes); the lock dies with the daemon. Probing takes the lock for a moment and gives it back at once.
    """
    try:
        # O_NONBLOCK: if something other than a pid file sits there (a FIFO), opening it must not hang the hook.
        fd = os.open(locations.pid_path(), os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False, None  # no pid file: no daemon
    try:
        import fcntl  # lazily: only session-start needs it

        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # EWOULDBLOCK: a daemon holds it
            try:
                pid = int(os.read(fd, 32).strip() or b"0")
            except (OSError, ValueError):
                pid = 0
            return True, pid if pid > 0 else None
        except OSError:
            return False, None  # no flock here: let a spawned daemon's own lock decide
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False, None
    finally:
        os.close(fd)


def ensure_daemon() -> str:
    running, pid = daemon_running()
    if running:
        return f"daemon running (pid {pid or '?'})"
    if os.path.exists(locations.service_marker()):
        return "daemon not running but a service manager owns it; not spawning"
    spawn_detached(DAEMON_ARGS)
    return "daemon not running; spawned it"


def context_line() -> str | None:
    """The user's `session_start_context` (plain text Claude sees at session start), if configured."""
    raw = read_small_file(locations.config_file(), locations.MAX_PAYLOAD)
    doc = parse_object(raw) if raw else None
    value = doc.get("session_start_context") if doc else None
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()[:CONTEXT_MAX_CHARS]


def session_start(raw: bytes) -> tuple[str, str | None]:
    """Returns (log message, text for stdout or None)."""
    status = ensure_daemon()
    if not raw.strip():
        return f"empty stdin; {status}", None
    doc = parse_object(raw) if len(raw) <= locations.MAX_PAYLOAD else None
    if doc is None:
        return f"stdin is not a JSON object ({len(raw)} bytes); {status}", None
    return f"source={doc.get('source')} session={doc.get('session_id')}; {status}", context_line()


# -- entry ------------------------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    """Run one hook. Always returns 0: a failing hook must never disturb Claude Code."""
    event = argv[0] if argv else ""
    try:
        if event not in EVENTS:
            log("hook", f"unknown event {event!r}; expected one of {', '.join(EVENTS)}")
            return 0
        raw = read_stdin(locations.MAX_PAYLOAD + 1)
        if event == "session-end":
            log(event, session_end(raw))
            return 0
        message, out = session_start(raw)
        if out:
            try:
                sys.stdout.write(out + "\n")
                sys.stdout.flush()
            except (OSError, ValueError):
                message += "; stdout closed"
        log(event, message)
    except BaseException as e:  # including KeyboardInterrupt: still exit 0
        log(event or "hook", f"internal error {e.__class__.__name__}: {e}")
    return 0
