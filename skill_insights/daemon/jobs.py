"""The daemon's periodic work beyond capture: skills scan + analysis + report, and report regeneration.

Each runs as a child process (`python -m skill_insights run --no-ingest`, or `report`), at low priority, one at
a time: the daemon's single loop keeps ingesting within its freshness budget while a scan, the analysis
process pool or a render runs, and a crash there never takes the daemon down.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import threading
import time
from typing import Any

from skill_insights.daemon import env_float
from skill_insights.telemetry.sender import SenderJob

log = logging.getLogger("skill_insights.daemon")

JOBS_LOG_MAX_BYTES = 1_000_000


def _env_seconds(name: str, default: float) -> float:
    return max(1.0, env_float(name, default))  # every default is at least 1 s


class BackgroundJobs:
    def __init__(self, daemon: Any):
        self.daemon = daemon
        self.proc: subprocess.Popen | None = None
        self.kind: str | None = None
        # daemon.stats["changes"] when the last report was started. Not "ingests": an ingest that changed nothing
        # (a trailing partial line re-queued by every reconcile) must not cost a report each interval.
        self.reported_changes = -1

    def busy(self) -> bool:
        if self.proc is None:
            return False
        rc = self.proc.poll()
        if rc is None:
            return True
        if rc != 0:
            log.warning("%s job exited with %s (see jobs.log)", self.kind, rc)
        self.proc = self.kind = None
        return False

    def _spawn(self, kind: str, args: list[str]) -> None:
        log_path = self.daemon.paths.log_dir / "jobs.log"
        try:
            if log_path.stat().st_size > JOBS_LOG_MAX_BYTES:
                log_path.unlink()
        except OSError:
            pass
        cmd = [sys.executable, "-m", "skill_insights", *args]
        nice = shutil.which("nice")
        if nice:
            cmd = [nice, "-n", "10", *cmd]
        with open(log_path, "ab") as out:
            out.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(args)}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
        self.kind = kind
        self.reported_changes = self.daemon.stats.get("changes", 0)
        log.info("started %s job (pid %d)", kind, self.proc.pid)

    def refresh(self) -> None:
        """Scan the skills, analyze them, and write a report."""
        if not self.busy():
            self._spawn("refresh", ["run", "--no-ingest"])

    def regenerate_report(self) -> None:
        """A new report when sessions were captured since the last one (debounced by the job interval)."""
        if self.busy() or self.daemon.stats.get("changes", 0) == self.reported_changes:
            return
        self._spawn("report", ["report"])

    def stop(self) -> None:
        if self.busy() and self.proc is not None:
            self.proc.terminate()


class SessionEndPosts:
    """Sessions that ended, handed to the opt-in GitHub posting once their transcripts had time to be ingested.

    The posting (network I/O, bounded rate-limit waits) runs on one thread of its own, one session at a time:
    capture never waits on GitHub, and a failure is logged, never raised into the loop.
    """

    SETTLE_S = 5.0

    def __init__(self, database: Any):
        self.database = database
        self.ended: dict[str, float] = {}  # session id -> when its SessionEnd arrived
        self.thread: threading.Thread | None = None

    def note(self, session_id: str) -> None:
        self.ended.setdefault(session_id, time.monotonic())

    def tick(self) -> None:
        if self.thread is not None and self.thread.is_alive():
            return
        now = time.monotonic()
        due = [sid for sid, at in self.ended.items() if now - at >= self.SETTLE_S]
        for sid in due:
            del self.ended[sid]
        if due:
            self.thread = threading.Thread(target=self._post, args=(due,), name="github-posts", daemon=True)
            self.thread.start()

    def _post(self, sessions: list[str]) -> None:
        from skill_insights.github.auto import at_session_end

        for sid in sessions:
            try:
                outcome = at_session_end(self.database, sid)
            except Exception:  # a bug there must not end the thread's other sessions
                log.exception("posting session %s to GitHub failed", sid)
                continue
            if outcome is not None:
                log.info("session %s on GitHub: %s", sid, outcome)


def register_background_jobs(scheduler: Any, daemon: Any) -> None:
    jobs = BackgroundJobs(daemon)
    daemon.background_jobs = jobs
    # The first refresh waits a minute so a daemon started by SessionStart stays light while the session opens.
    scan_s = _env_seconds("SKILL_INSIGHTS_SCAN_S", 6 * 3600.0)
    job = scheduler.register("skills.scan", scan_s, jobs.refresh)
    job.next_run = time.monotonic() + min(scan_s, _env_seconds("SKILL_INSIGHTS_FIRST_SCAN_S", 60.0))
    scheduler.register("report.regenerate", _env_seconds("SKILL_INSIGHTS_REPORT_S", 900.0), jobs.regenerate_report)
    # Opt-in org signals: drains the outbox on its own thread (a no-op that drops the queue unless enabled).
    daemon.telemetry_sender = SenderJob(daemon.paths.database)
    scheduler.register("telemetry.send", _env_seconds("SKILL_INSIGHTS_TELEMETRY_S", 60.0), daemon.telemetry_sender.tick)
    # Opt-in session reports on GitHub at SessionEnd (nothing is read or imported unless a repo opted in).
    posts = daemon.session_end_posts = SessionEndPosts(daemon.paths.database)
    scheduler.register("github.session_end", _env_seconds("SKILL_INSIGHTS_GITHUB_S", 10.0), posts.tick)
