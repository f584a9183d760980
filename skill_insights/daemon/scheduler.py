"""A tiny scheduler of named periodic jobs, driven by the daemon's own event loop.

No thread of its own: the loop asks `seconds_until_next()` for its select timeout and calls `run_due()`, so an
idle daemon sleeps until the next job is due instead of ticking. Jobs run on the loop's thread, one at a
time, which keeps the single SQLite connection single-threaded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("skill_insights.daemon")


@dataclass
class Job:
    name: str
    interval_s: float
    fn: Callable[[], Any]
    next_run: float
    runs: int = 0
    last_run: float | None = None
    last_seconds: float | None = None
    last_error: str | None = None


class Scheduler:
    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self.jobs: dict[str, Job] = {}

    def register(self, name: str, interval_s: float, fn: Callable[[], Any], *, run_at_start: bool = False) -> Job:
        """Run `fn` every `interval_s` seconds (first run now if `run_at_start`, else after one interval)."""
        if interval_s <= 0:
            raise ValueError(f"job {name!r}: interval must be positive, got {interval_s}")
        if name in self.jobs:
            raise ValueError(f"job {name!r} is already registered")
        now = self._clock()
        job = Job(name, float(interval_s), fn, now if run_at_start else now + interval_s)
        self.jobs[name] = job
        return job

    def unregister(self, name: str) -> None:
        self.jobs.pop(name, None)

    def trigger(self, name: str) -> None:
        """Make a job due now (e.g. a reconcile asked for by a status request or a new directory)."""
        job = self.jobs.get(name)
        if job:
            job.next_run = min(job.next_run, self._clock())

    def seconds_until_next(self) -> float | None:
        due = [j.next_run for j in self.jobs.values()]
        if not due:
            return None
        return max(0.0, min(due) - self._clock())

    def run_due(self) -> list[str]:
        """Run every job that is due; a failing job is logged and retried at its next interval."""
        ran: list[str] = []
        now = self._clock()
        for job in sorted(self.jobs.values(), key=lambda j: j.next_run):
            if job.next_run > now:
                continue
            started = self._clock()
            try:
                job.fn()
                job.last_error = None
            except Exception as e:  # a job must never take the daemon down
                job.last_error = f"{type(e).__name__}: {e}"
                log.exception("job %s failed", job.name)
            finished = self._clock()
            job.runs += 1
            job.last_run = time.time()
            job.last_seconds = finished - started
            # Schedule from the finish, so a job slower than its interval never runs back to back.
            job.next_run = finished + job.interval_s
            ran.append(job.name)
        return ran

    def describe(self) -> list[dict[str, Any]]:
        now = self._clock()
        return [
            {
                "name": j.name,
                "interval_s": j.interval_s,
                "runs": j.runs,
                "last_run": j.last_run,
                "last_seconds": None if j.last_seconds is None else round(j.last_seconds, 4),
                "next_in_s": round(max(0.0, j.next_run - now), 3),
                "last_error": j.last_error,
            }
            for j in self.jobs.values()
        ]
