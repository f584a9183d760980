"""The daemon's file watching: watchdog (inotify, FSEvents, … or polling) over the projects folders and the
spool folder. Runs on the observer's thread and only records what changed in the ingest queue.

A watch never follows a link out of the projects folders: watchdog itself does not descend into links, a
root is watched only while it still is the folder the daemon started on, and a new folder (a link to another
tree or to `/` moved in) is walked by the queue only if it resolves inside them.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

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

from skill_insights.hooks import locations
from skill_insights.projects import ProjectRoots

if TYPE_CHECKING:
    from skill_insights.daemon.ingest_queue import IngestQueue

log = logging.getLogger("skill_insights.daemon")

# No opened/closed-no-write events: our own reads of a transcript would otherwise wake the handler.
_EVENT_FILTER = [
    FileModifiedEvent,
    FileCreatedEvent,
    FileMovedEvent,
    FileClosedEvent,
    FileDeletedEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
]


class Watcher:
    def __init__(
        self,
        queue: IngestQueue,
        projects: ProjectRoots,
        roots: list[str],
        polling: bool,
        poll_interval_s: float,
        on_rewatched: Callable[[], None],
    ):
        self.queue = queue
        self.projects = projects
        self.roots = roots
        self.polling = polling
        self.poll_interval_s = poll_interval_s
        self.on_rewatched = on_rewatched  # a root watched again: what was written meanwhile needs a reconcile
        self.observer: Any = None
        self.kind = "none"
        self._targets: list[tuple[str, bool]] = []  # (dir, recursive) the observer watches
        self._watches: dict[str, Any] = {}  # dir -> watchdog ObservedWatch
        self._refused: set[str] = set()  # roots not watched because they now lead elsewhere (logged once)
        self._handler = _Handler(queue, self)

    def start(self) -> None:
        from watchdog.observers import Observer
        from watchdog.observers.polling import PollingObserver

        self._targets = []
        for root in self.roots:
            try:
                os.makedirs(root, exist_ok=True)
            except OSError:
                log.warning("cannot create %s; only the reconcile will find its files", root)
            self._targets.append((root, True))
        self._targets.append((locations.spool_dir(), False))

        def build(cls: Any, **kw: Any) -> Any:
            self._watches = {}
            obs = cls(**kw)
            obs.daemon = True
            self.observer = obs
            for path, recursive in self._targets:
                if self._watchable(path):
                    self._watches[path] = self._schedule(path, recursive)
            obs.start()
            return obs

        if not self.polling:
            try:
                build(Observer)
                self.kind = type(self.observer).__name__.removesuffix("Observer").lower() or "native"
                log.info("watching with %s observer", self.kind)
                return
            except Exception as e:  # inotify limits (ENOSPC/EMFILE) or no native backend
                log.warning("native file watching unavailable (%s); falling back to polling", e)
                with contextlib.suppress(Exception):
                    self.observer.stop()
                self.observer = None
        build(PollingObserver, timeout=self.poll_interval_s)
        self.kind = "polling"
        log.info("watching with polling observer every %.1fs", self.poll_interval_s)

    def _watchable(self, path: str) -> bool:
        """A folder to watch now: the spool, or a root that still resolves to the folder it was at start."""
        if path == locations.spool_dir():
            return os.path.isdir(path)
        if self.projects.fresh().folder(path) is not None:
            self._refused.discard(path)
            return True
        if os.path.lexists(path) and path not in self._refused:
            self._refused.add(path)
            log.warning("not watching %s: it no longer leads to the folder the daemon started on", path)
        return False

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
            if (watch is not None and watch in alive) or not self._watchable(path):
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
                self.on_rewatched()

    def watched_paths(self) -> set[str]:
        return {p for p, _ in self._targets}

    def stop(self) -> None:
        if self.observer is not None:
            with contextlib.suppress(Exception):
                self.observer.stop()
                self.observer.join(timeout=5)


class _Handler(FileSystemEventHandler):
    """Runs on the observer thread: records paths, never touches the store."""

    def __init__(self, queue: IngestQueue, watcher: Watcher):
        super().__init__()
        self.q = queue
        self.w = watcher
        self.spool = os.path.abspath(locations.spool_dir())

    def on_any_event(self, event: Any) -> None:
        try:
            kind = event.event_type
            src = os.fsdecode(event.src_path)
            dest = os.fsdecode(event.dest_path) if getattr(event, "dest_path", "") else ""
            target = dest or src
            if event.is_directory:
                if kind in ("created", "moved"):
                    self.q.note_dir(target)
                elif kind == "deleted" and src in self.w.watched_paths():
                    self.q.note_root_gone()
                return
            if os.path.dirname(target) == self.spool:
                if target.endswith(".json") and kind != "deleted":
                    self.q.note_spool()
                return
            if kind == "deleted":
                if src.endswith(".jsonl"):
                    self.q.forget(src)
                return
            if not target.endswith(".jsonl"):
                return
            # The writer closed the file: its lines are complete, no need to wait out the debounce.
            delay = 0.01 if kind == "closed" else self.q.debounce_s
            self.q.note_file(target, delay)
        except Exception:
            log.exception("file event handler failed")
