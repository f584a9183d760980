"""The capture daemon: watches transcript roots, takes hook nudges, ingests within a second.

One event loop on the main thread (`selectors` over a wake-up pipe, the listening socket and its client
connections) owns the SQLite connection and does every ingest; the watchdog observer thread only records
which paths changed and writes a byte to the wake-up pipe. Signals reach the loop the same way
(`signal.set_wakeup_fd`). Idle, the loop sleeps until the next debounce deadline or scheduled job: no polling
tick of its own.

Why it is safe under kill -9: the tailer commits rows and checkpoint together per chunk, so a restart resumes
from the last committed checkpoint, and the reconcile job at start catches every file written meanwhile.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import selectors
import signal
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEventHandler,
)

from skill_insights import __version__
from skill_insights.daemon import control, env_float
from skill_insights.daemon.jobs import register_background_jobs
from skill_insights.daemon.scheduler import Scheduler
from skill_insights.hooks import locations, payload, spool
from skill_insights.outputs import write_atomic
from skill_insights.settings import Paths, default_projects_dirs, get_paths

log = logging.getLogger("skill_insights.daemon")

# Later features register their periodic jobs here (skills scan, analysis in a process pool, report
# regeneration, telemetry): each provider is called once at start with the scheduler and the daemon.
JOB_PROVIDERS: list[Callable[[Scheduler, Daemon], None]] = [register_background_jobs]


@dataclass
class DaemonConfig:
    roots: list[Path] = field(default_factory=default_projects_dirs)
    debounce_s: float = 0.15  # trailing delay after a write, so a burst of lines is one ingest
    max_delay_s: float = 0.6  # a file written continuously is still ingested this often
    reconcile_s: float = 300.0  # full stat pass over the roots: what events missed
    spool_s: float = 60.0
    status_s: float = 30.0
    rollups_s: float = 3600.0
    polling: bool = False
    poll_interval_s: float = 1.0
    verbose: bool = False

    @classmethod
    def from_env(cls, **overrides: Any) -> DaemonConfig:
        polling = os.environ.get("SKILL_INSIGHTS_DAEMON_POLLING", "").lower() in ("1", "true", "yes")
        cfg = cls(
            debounce_s=env_float("SKILL_INSIGHTS_DEBOUNCE_MS", cls.debounce_s * 1000) / 1000,
            reconcile_s=env_float("SKILL_INSIGHTS_RECONCILE_S", cls.reconcile_s),
            spool_s=env_float("SKILL_INSIGHTS_SPOOL_S", cls.spool_s),
            polling=polling,
            poll_interval_s=env_float("SKILL_INSIGHTS_POLL_S", cls.poll_interval_s),
        )
        for k, v in overrides.items():
            if v is not None:
                setattr(cfg, k, v)
        return cfg


def rss_bytes() -> int | None:
    rss = control.proc_rss_bytes(os.getpid())
    if rss is not None:
        return rss
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024
    except (ImportError, OSError):
        return None


def setup_logging(paths: Paths, verbose: bool) -> None:
    paths.log_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        paths.log_dir / "daemon.log", maxBytes=1_000_000, backupCount=3, encoding="utf-8"
    )
    fmt = logging.Formatter("%(asctime)s %(levelname)s [%(process)d] %(message)s")
    handler.setFormatter(fmt)
    log.handlers[:] = [handler]
    if verbose or sys.stderr.isatty():
        err = logging.StreamHandler(sys.stderr)
        err.setFormatter(fmt)
        log.addHandler(err)
    log.setLevel(logging.DEBUG if verbose else logging.INFO)
    log.propagate = False


class _Conn:
    __slots__ = ("buf", "deadline", "sock")

    def __init__(self, sock: socket.socket, deadline: float):
        self.sock = sock
        self.buf = bytearray()
        self.deadline = deadline


class Daemon:
    CONN_TIMEOUT_S = 5.0
    BULK_SLICE_S = 0.25  # reconcile backlog work per loop turn, so nudges and events are not starved

    def __init__(self, config: DaemonConfig | None = None, paths: Paths | None = None):
        self.config = config or DaemonConfig.from_env()
        self.paths = paths or get_paths()
        # Absolute, not resolved: the same spelling `discover()` gives, so a file has one row in the store.
        self.roots = [Path(os.path.abspath(os.path.expanduser(r))) for r in self.config.roots]
        self._real_roots = [(os.path.realpath(r), str(r)) for r in self.roots]
        self.debounce_s = self.config.debounce_s
        self.scheduler = Scheduler()
        self.started_at = time.time()
        self._stop = False
        self._lock = threading.Lock()  # guards _pending, _dirs, _spool_due (written by the observer thread)
        self._pending: dict[str, tuple[float, float]] = {}  # path -> (due, first noted), monotonic
        self._dirs: dict[str, float] = {}  # new directories to scan -> due
        self._spool_due: float | None = None
        self._rearm_due: float | None = None
        self._bulk: deque[str] = deque()  # reconcile backlog, worked in slices
        self._bulk_set: set[str] = set()
        self._known: set[str] = set()  # transcript files seen under the roots ("files watched")
        self._conns: dict[int, _Conn] = {}
        self._wake_r = self._wake_w = -1
        self._sel: selectors.BaseSelector | None = None
        self._listener: socket.socket | None = None
        self._socket_stat: os.stat_result | None = None
        self.socket_path: str | None = None
        self.observer: Any = None
        self._targets: list[tuple[str, bool]] = []  # (dir, recursive) the observer watches
        self._watches: dict[str, Any] = {}  # dir -> watchdog ObservedWatch
        self.observer_kind = "none"
        self.db: Any = None
        self.tailer: Any = None
        self._prices_mtime: float | None = None
        self.lock = control.InstanceLock()
        self.stats: dict[str, Any] = {
            "last_ingest_at": None,
            "last_ingest": None,
            "ingests": 0,
            "changes": 0,  # ingests that added lines or re-derived a file: what a new report can show
            "files_ingested": 0,
            "lines_ingested": 0,
            "responses_ingested": 0,
            "payloads": 0,
            "bad_payloads": 0,
            "spooled": 0,
            "errors": 0,
            "reconciles": 0,
        }
        self._status_written = 0.0

    # -- lifecycle --------------------------------------------------------------------------------------

    def run(self) -> int:
        """Run until SIGTERM/SIGINT. Raises control.AlreadyRunning if another daemon holds the lock."""
        control.ensure_runtime_dir()
        self.lock.acquire()
        try:
            setup_logging(self.paths, self.config.verbose)
            log.info("daemon %s starting (pid %d), roots %s", __version__, os.getpid(), [str(r) for r in self.roots])
            self._open_store()
            self._setup_wakeup()
            self._install_signals()
            self._setup_socket()
            os.makedirs(locations.spool_dir(), mode=0o700, exist_ok=True)
            self._start_observer()
            self._register_jobs()
            self._write_status()
            self._loop()
            return 0
        except Exception:
            log.exception("daemon failed")
            raise
        finally:
            self._shutdown()

    def request_stop(self) -> None:
        self._stop = True
        self._wake()

    def _open_store(self) -> None:
        from skill_insights.collectors.transcripts import TranscriptTailer
        from skill_insights.store import open_db

        self.paths.ensure()
        self.db = open_db(self.paths.database)
        self.tailer = TranscriptTailer(self.db, self._load_prices())

    def _load_prices(self) -> Any:
        from skill_insights.pricing import PriceTable

        f = self.paths.prices_file
        try:
            self._prices_mtime = f.stat().st_mtime
        except OSError:
            self._prices_mtime = None
        try:
            return PriceTable.load(f)
        except (OSError, ValueError, KeyError):
            log.exception("cannot read the user price table %s; using the bundled one", f)
            return PriceTable.load(None)

    def _setup_wakeup(self) -> None:
        self._wake_r, self._wake_w = os.pipe()
        for fd in (self._wake_r, self._wake_w):
            os.set_blocking(fd, False)
            os.set_inheritable(fd, False)
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._wake_r, selectors.EVENT_READ, "wake")

    def _install_signals(self) -> None:
        def on_signal(signum: int, _frame: Any) -> None:
            self._stop = True  # the loop sees it: set_wakeup_fd makes select() return

        signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, on_signal)

    def _setup_socket(self) -> None:
        path = locations.socket_path()
        if len(os.fsencode(path)) > locations.MAX_SOCKET_PATH:
            log.warning("socket path too long (%d bytes > %d): spool-only mode (%s)", len(os.fsencode(path)),
                        locations.MAX_SOCKET_PATH, locations.spool_dir())
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
        self.socket_path = path
        assert self._sel is not None
        self._sel.register(s, selectors.EVENT_READ, "listen")
        log.info("listening on %s", path)

    def _start_observer(self) -> None:
        from watchdog.observers import Observer
        from watchdog.observers.polling import PollingObserver

        self._handler = _Handler(self)
        self._targets = []
        for root in self.roots:
            try:
                root.mkdir(parents=True, exist_ok=True)
            except OSError:
                log.warning("cannot create %s; only the reconcile will find its files", root)
            self._targets.append((str(root), True))
        self._targets.append((locations.spool_dir(), False))

        def build(cls: type, **kw: Any) -> Any:
            self._watches = {}
            obs = cls(**kw)
            obs.daemon = True
            self.observer = obs
            for path, recursive in self._targets:
                if os.path.isdir(path):
                    self._watches[path] = self._schedule(path, recursive)
            obs.start()
            return obs

        if not self.config.polling:
            try:
                build(Observer)
                self.observer_kind = type(self.observer).__name__.removesuffix("Observer").lower() or "native"
                log.info("watching with %s observer", self.observer_kind)
                return
            except Exception as e:  # inotify limits (ENOSPC/EMFILE) or no native backend
                log.warning("native file watching unavailable (%s); falling back to polling", e)
                with contextlib.suppress(Exception):
                    self.observer.stop()
                self.observer = None
        build(PollingObserver, timeout=self.config.poll_interval_s)
        self.observer_kind = "polling"
        # A poll already batches a second of writes: a debounce on top would only add latency.
        self.debounce_s = min(self.debounce_s, 0.02)
        log.info("watching with polling observer every %.1fs", self.config.poll_interval_s)

    def _schedule(self, path: str, recursive: bool) -> Any:
        try:
            return self.observer.schedule(self._handler, path, recursive=recursive, event_filter=_EVENT_FILTER)
        except TypeError:  # watchdog without event_filter
            return self.observer.schedule(self._handler, path, recursive=recursive)

    def ensure_watches(self) -> None:
        """Re-arm the watch of a root that was deleted and re-created: its emitter stops at the deletion."""
        if self.observer is None:
            return
        alive = {e.watch for e in self.observer.emitters if e.is_alive()}
        for path, recursive in self._targets:
            watch = self._watches.get(path)
            if (watch is not None and watch in alive) or not os.path.isdir(path):
                continue
            if watch is not None:
                with contextlib.suppress(Exception):
                    self.observer.unschedule(watch)
            try:
                self._watches[path] = self._schedule(path, recursive)
                log.info("watching %s again", path)
            except Exception:
                log.exception("cannot watch %s", path)
            if path != locations.spool_dir():
                self.scheduler.trigger("ingest.reconcile")  # what was written while unwatched

    def _register_jobs(self) -> None:
        from skill_insights.store.rollups import flush

        self.scheduler.register("ingest.reconcile", self.config.reconcile_s, self.reconcile, run_at_start=True)
        self.scheduler.register("spool.drain", self.config.spool_s, self.drain_spool, run_at_start=True)
        # Rollups are flushed after every ingest; this catches dirt left by other writers (a detached hook
        # ingest, a kill -9 between a chunk and its flush) and crosses midnight for the daily view.
        self.scheduler.register("rollups.flush", self.config.rollups_s, lambda: flush(self.db))
        self.scheduler.register("status.write", self.config.status_s, self._write_status)
        for provider in JOB_PROVIDERS:
            try:
                provider(self.scheduler, self)
            except Exception:
                log.exception("job provider %r failed", provider)

    def _shutdown(self) -> None:
        log.info("daemon stopping")
        jobs = getattr(self, "background_jobs", None)
        if jobs is not None:
            jobs.stop()
        if self.observer is not None:
            with contextlib.suppress(Exception):
                self.observer.stop()
                self.observer.join(timeout=5)
        for c in list(self._conns.values()):
            with contextlib.suppress(OSError):
                c.sock.close()
        self._conns.clear()
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.close()
            # Only remove the socket file if it is still the one we bound.
            with contextlib.suppress(OSError):
                if self.socket_path and self._socket_stat and os.path.samestat(
                    os.stat(self.socket_path), self._socket_stat
                ):
                    os.unlink(self.socket_path)
        with contextlib.suppress(OSError):
            os.unlink(control.status_path())
        with contextlib.suppress(ValueError):
            signal.set_wakeup_fd(-1)
        if self._sel is not None:
            self._sel.close()
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        if self.db is not None:
            with contextlib.suppress(Exception):
                self.db.conn.close()
        self.lock.release()
        log.info("daemon stopped")

    # -- notes from the observer thread, the socket and the spool -------------------------------------

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # a full pipe already guarantees a wake-up
            os.write(self._wake_w, b"\0")

    def note_file(self, path: str, delay: float) -> None:
        now = time.monotonic()
        with self._lock:
            prev = self._pending.get(path)
            first = prev[1] if prev else now
            self._pending[path] = (min(now + delay, first + self.config.max_delay_s), first)
        self._wake()

    def note_dir(self, path: str) -> None:
        with self._lock:
            self._dirs[path] = time.monotonic() + self.debounce_s
        self._wake()

    def note_spool(self) -> None:
        with self._lock:
            self._spool_due = time.monotonic() + 0.02
        self._wake()

    def forget(self, path: str) -> None:
        self._known.discard(path)

    def watched_paths(self) -> set[str]:
        return {p for p, _ in self._targets}

    def note_root_gone(self) -> None:
        """A watched dir was deleted: check again shortly, in case it is being re-created."""
        with self._lock:
            self._rearm_due = time.monotonic() + 1.0
        self._wake()

    # -- the loop ---------------------------------------------------------------------------------------

    def _timeout(self) -> float | None:
        deadlines: list[float] = []
        now = time.monotonic()
        with self._lock:
            if self._pending:
                deadlines.append(min(d for d, _ in self._pending.values()))
            if self._dirs:
                deadlines.append(min(self._dirs.values()))
            if self._spool_due is not None:
                deadlines.append(self._spool_due)
            if self._rearm_due is not None:
                deadlines.append(self._rearm_due)
        if self._conns:
            deadlines.append(min(c.deadline for c in self._conns.values()))
        nxt = self.scheduler.seconds_until_next()
        if nxt is not None:
            deadlines.append(now + nxt)
        if self._bulk:
            return 0.0
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - now)

    def _loop(self) -> None:
        assert self._sel is not None
        while not self._stop:
            try:
                for key, _mask in self._sel.select(self._timeout()):
                    tag = key.data
                    if tag == "wake":
                        with contextlib.suppress(OSError):
                            while os.read(self._wake_r, 4096):
                                pass
                    elif tag == "listen":
                        self._accept()
                    else:
                        self._read_conn(key.fd)
                if self._stop:
                    break
                self._expire_conns()
                self._process_due()
                self.scheduler.run_due()
                if self._bulk and not self._stop:
                    self._work_bulk()
            except Exception:
                # A bug in one turn must not end capture; the next reconcile repairs what was missed.
                self.stats["errors"] += 1
                log.exception("error in the daemon loop")
                time.sleep(0.5)

    def _process_due(self) -> None:
        now = time.monotonic()
        with self._lock:
            files = [p for p, (due, _) in self._pending.items() if due <= now]
            for p in files:
                del self._pending[p]
            dirs = [d for d, due in self._dirs.items() if due <= now]
            for d in dirs:
                del self._dirs[d]
            spool = self._spool_due is not None and self._spool_due <= now
            if spool:
                self._spool_due = None
            rearm = self._rearm_due is not None and self._rearm_due <= now
            if rearm:
                self._rearm_due = None
        if rearm:
            self.ensure_watches()
        if dirs:
            from skill_insights.collectors.transcripts import discover

            # Files created with their directory may predate the new watch: pick them up by a scan.
            for p in discover([Path(d) for d in dirs]):
                if str(p) not in files:
                    files.append(str(p))
        if files:
            self.ingest(files, "events")
        if spool:
            self.drain_spool()

    def _work_bulk(self) -> None:
        started = time.monotonic()
        batch: list[str] = []
        while self._bulk and not self._stop and time.monotonic() - started < self.BULK_SLICE_S:
            p = self._bulk.popleft()
            self._bulk_set.discard(p)
            batch.append(p)
            self.ingest([p], "reconcile", flush=not self._bulk)
            with self._lock:
                if any(d <= time.monotonic() for d, _ in self._pending.values()):
                    break  # fresh writes first
        if batch and self._bulk:
            from skill_insights.store.rollups import flush

            flush(self.db)  # make what this slice captured visible even while a long backlog remains

    # -- ingest -----------------------------------------------------------------------------------------

    def ingest(self, files: list[str], reason: str, flush: bool = True) -> None:
        from skill_insights.store.rollups import flush as flush_rollups

        started = time.perf_counter()
        lines = responses = changed = 0
        for f in files:
            if self._stop:
                break  # files left over are caught by the next start's reconcile
            if f.endswith(".jsonl") and self._under_roots(f):
                self._known.add(f)
            try:
                n_lines, n_resp, _malformed, reset = self.tailer.ingest_file(Path(f))
            except Exception:
                self.stats["errors"] += 1
                log.exception("ingest of %s failed", f)
                continue
            lines += n_lines
            responses += n_resp
            changed += 1 if (n_lines or reset) else 0
        if flush:
            try:
                flush_rollups(self.db)
            except Exception:
                self.stats["errors"] += 1
                log.exception("rollups flush failed")
        secs = time.perf_counter() - started
        st = self.stats
        st["ingests"] += 1
        st["files_ingested"] += changed
        st["lines_ingested"] += lines
        st["responses_ingested"] += responses
        if changed:
            st["changes"] += 1
            st["last_ingest_at"] = time.time()
            st["last_ingest"] = {"reason": reason, "files": len(files), "changed_files": changed,
                                 "new_lines": lines, "new_responses": responses, "seconds": round(secs, 4)}
            log.debug("ingest (%s): %d files, %d new lines in %.3fs", reason, len(files), lines, secs)
            if time.monotonic() - self._status_written > 1.0:
                self._write_status()

    def _under_roots(self, path: str) -> bool:
        return any(path.startswith(str(r) + os.sep) for r in self.roots)

    def canonical(self, path: str) -> str:
        """A payload's path spelled under our root when it is the same file (symlinked config dirs)."""
        path = os.path.normpath(path)
        if self._under_roots(path):
            return path
        real = os.path.realpath(path)
        for real_root, root in self._real_roots:
            if real.startswith(real_root + os.sep):
                return root + real[len(real_root) :]
        return path

    def reconcile(self) -> None:
        """Stat every transcript under the roots; queue those whose checkpoint is behind."""
        from skill_insights.collectors.transcripts import discover, is_current, known_checkpoints

        started = time.perf_counter()
        self.ensure_watches()
        if self.paths.prices_file.exists() and self.paths.prices_file.stat().st_mtime != self._prices_mtime:
            self.tailer.prices = self._load_prices()
            log.info("price table reloaded")
        known = known_checkpoints(self.db)
        found = discover(self.roots)
        self._known = {str(p) for p in found}
        queued = 0
        for p in found:
            key = str(p)
            try:
                st = os.stat(key)
            except OSError:
                continue
            if is_current(known.get(key), st):
                continue
            if key not in self._bulk_set:
                self._bulk.append(key)
                self._bulk_set.add(key)
                queued += 1
        self.stats["reconciles"] += 1
        self.stats["last_reconcile"] = {"at": time.time(), "files": len(found), "queued": queued,
                                        "seconds": round(time.perf_counter() - started, 4)}
        if queued:
            log.info("reconcile: %d of %d files behind their checkpoint", queued, len(found))

    def drain_spool(self) -> None:
        """Ingest what hooks spooled while no daemon listened, then remove each payload file."""
        pending = spool.pending(Path(locations.spool_dir()))
        for f, raw in spool.readable(pending):
            files = self._files_of(payload.parse(raw), len(raw))
            if files:
                self.ingest(files, "spool")
            with contextlib.suppress(OSError):
                f.unlink()
            self.stats["spooled"] += 1
        if pending:
            log.info("drained %d spooled payloads", len(pending))

    def _files_of(self, p: payload.HookPayload | None, size: int) -> list[str]:
        """The transcripts a parsed hook payload (None: not hook JSON, of `size` bytes) names."""
        if p is None:
            self.stats["bad_payloads"] += 1
            log.info("ignored a payload that is not hook JSON (%d bytes)", size)
            return []
        return [self.canonical(f) for f in payload.transcript_files(p)]

    # -- socket -----------------------------------------------------------------------------------------

    def _accept(self) -> None:
        assert self._listener is not None and self._sel is not None
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
        assert self._sel is not None
        with contextlib.suppress(KeyError, ValueError):
            self._sel.unregister(c.sock)
        with contextlib.suppress(OSError):
            c.sock.close()

    def _read_conn(self, fd: int) -> None:
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
                self.stats["bad_payloads"] += 1
                log.info("dropped an oversized payload")
                self._close_conn(fd)
            return
        # EOF: the client shut down its write side; the payload is complete.
        raw = bytes(c.buf)
        self.stats["payloads"] += 1
        p = payload.parse(raw)
        if p is not None and p.request == "status":
            with contextlib.suppress(OSError):
                c.sock.setblocking(True)
                c.sock.settimeout(1.0)
                c.sock.sendall(orjson.dumps(self.status()))
            self._close_conn(fd)
            return
        self._close_conn(fd)
        files = self._files_of(p, len(raw))
        log.debug("payload %s for %d files", p.event if p else None, len(files))
        for f in files:
            self.note_file(f, 0.0)

    def _expire_conns(self) -> None:
        now = time.monotonic()
        for fd, c in list(self._conns.items()):
            if c.deadline <= now:
                log.info("closed a client that sent no EOF within %.0fs", self.CONN_TIMEOUT_S)
                self._close_conn(fd)

    # -- status -----------------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        with self._lock:
            pending = len(self._pending) + len(self._dirs)
        return {
            "pid": os.getpid(),
            "version": __version__,
            "started_at": self.started_at,
            "uptime_s": round(time.time() - self.started_at, 1),
            "last_ingest_at": self.stats["last_ingest_at"],
            "files_watched": len(self._known),
            "backlog": pending + len(self._bulk),
            "rss_bytes": rss_bytes(),
            "observer": self.observer_kind,
            "debounce_ms": round(self.debounce_s * 1000, 1),
            "roots": [str(r) for r in self.roots],
            "socket": self.socket_path,
            "spool_dir": locations.spool_dir(),
            "database": str(self.paths.database),
            "log_file": str(self.paths.log_dir / "daemon.log"),
            "stats": dict(self.stats),
            "jobs": self.scheduler.describe(),
            "written_at": time.time(),
        }

    def _write_status(self) -> None:
        self._status_written = time.monotonic()
        path = control.status_path()
        try:
            write_atomic(Path(path), orjson.dumps(self.status(), option=orjson.OPT_INDENT_2), 0o644)
        except OSError:
            log.exception("cannot write %s", path)


# No opened/closed-no-write events: our own reads of a transcript would otherwise wake the handler.
_EVENT_FILTER = [FileModifiedEvent, FileCreatedEvent, FileMovedEvent, FileClosedEvent, FileDeletedEvent,
                 DirCreatedEvent, DirDeletedEvent, DirMovedEvent]


class _Handler(FileSystemEventHandler):
    """Runs on the observer thread: records paths, never touches the store."""

    def __init__(self, daemon: Daemon):
        super().__init__()
        self.d = daemon
        self.spool = os.path.abspath(locations.spool_dir())

    def on_any_event(self, event: Any) -> None:
        try:
            kind = event.event_type
            src = os.fsdecode(event.src_path)
            dest = os.fsdecode(event.dest_path) if getattr(event, "dest_path", "") else ""
            target = dest or src
            if event.is_directory:
                if kind in ("created", "moved"):
                    self.d.note_dir(target)
                elif kind == "deleted" and src in self.d.watched_paths():
                    self.d.note_root_gone()
                return
            if os.path.dirname(target) == self.spool:
                if target.endswith(".json") and kind != "deleted":
                    self.d.note_spool()
                return
            if kind == "deleted":
                if src.endswith(".jsonl"):
                    self.d.forget(src)
                return
            if not target.endswith(".jsonl"):
                return
            # The writer closed the file: its lines are complete, no need to wait out the debounce.
            delay = 0.01 if kind == "closed" else self.d.debounce_s
            self.d.note_file(target, delay)
        except Exception:
            log.exception("file event handler failed")
