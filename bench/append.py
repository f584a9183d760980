"""Daemon CPU per appended line, against the size of the history the line joins.

Starts a real daemon (`python -m skill_insights daemon run`) on a throwaway SKILL_INSIGHTS_HOME and Claude
config dir, lets it ingest a prepared history, then appends realistic assistant lines to one transcript at
--rate lines a second and reads the daemon's own CPU time (utime + stime from /proc) before and after. Three
stores, as the capture-at-scale work measures them:

* fresh   — a fresh session on an empty day;
* long    — the same session already holding --long responses;
* busy    — a fresh session on a day that already holds --day-sessions sessions × --day-responses responses.

    python bench/append.py [--appends 200] [--rate 20] [--long 20000] [--day-sessions 100] [--day-responses 500]

Target: the long session and the busy day cost at most 2× the fresh session per line, and under 10 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from daemon_idle import cpu_seconds
from test_daemon_support import DaemonProc, assistant_line, assistant_template, make_env, wait_for


def _today_so_far() -> tuple[float, float]:
    """(start, end) of the part of today (local time) that has passed, less a minute at each end."""
    now = time.time()
    midnight = time.mktime((*time.localtime(now)[:3], 0, 0, 0, 0, 0, -1))
    if now - midnight < 600:
        raise SystemExit("run this more than 10 minutes after local midnight: the history must fall on today")
    return midnight + 60, now - 60


def _history_lines(template: dict, sid: str, n: int) -> bytes:
    """n assistant lines of one session, spread over today so far (the appended lines land on the same day)."""
    start, end = _today_so_far()
    step = (end - start) / max(1, n)
    out = []
    for i in range(n):
        line, _ = assistant_line(template, sid, 10 + i % 90)
        doc = json.loads(line)
        ts = start + i * step
        doc["timestamp"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}Z"
        out.append(json.dumps(doc, separators=(",", ":")).encode() + b"\n")
    return b"".join(out)


def measure(case: str, args: argparse.Namespace, template: dict) -> dict:
    root = Path(tempfile.mkdtemp(prefix=f"si-append-{case}-"))
    try:
        env = make_env(root)
        project = Path(env["CLAUDE_CONFIG_DIR"]) / "projects" / "-home-dev-app"
        project.mkdir(parents=True)
        sid = str(uuid.uuid4())
        transcript = project / f"{sid}.jsonl"
        if case == "long":
            transcript.write_bytes(_history_lines(template, sid, args.long))
        else:
            transcript.write_bytes(b"")
        if case == "busy":
            for _ in range(args.day_sessions):
                other = str(uuid.uuid4())
                (project / f"{other}.jsonl").write_bytes(_history_lines(template, other, args.day_responses))
        db_path = Path(env["SKILL_INSIGHTS_HOME"]) / "data" / "skill-insights.db"
        daemon = DaemonProc(env)
        try:
            daemon.wait_ready(timeout=600)
            daemon.wait_idle(timeout=600)
            db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)

            def output_tokens() -> int:
                row = db.execute("SELECT output_tokens FROM sessions WHERE session_id = ?", [sid]).fetchone()
                return row[0] if row else 0

            history = db.execute("SELECT count(*) FROM responses").fetchone()[0]
            expected = output_tokens()
            cpu0 = cpu_seconds(daemon.pid)
            t0 = time.perf_counter()
            fd = os.open(transcript, os.O_WRONLY | os.O_APPEND)
            try:
                for i in range(args.appends):
                    line, _ = assistant_line(template, sid, 1000 + i)
                    expected += 1000 + i
                    os.write(fd, line)
                    time.sleep(max(0.0, t0 + (i + 1) / args.rate - time.perf_counter()))
            finally:
                os.close(fd)
            wait_for(lambda: output_tokens() == expected, timeout=120, what="every appended line")
            time.sleep(0.5)  # the debounce timer's last pass
            cpu = cpu_seconds(daemon.pid) - cpu0
            db.close()
        finally:
            daemon.stop()
        return {
            "case": case,
            "history_responses": history,
            "appends": args.appends,
            "cpu_ms_per_line": cpu * 1000 / args.appends,
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--appends", type=int, default=200)
    ap.add_argument("--rate", type=float, default=20.0, help="appended lines per second")
    ap.add_argument("--long", type=int, default=20_000, help="responses already in the long session")
    ap.add_argument("--day-sessions", type=int, default=100)
    ap.add_argument("--day-responses", type=int, default=500)
    ap.add_argument("--cases", default="fresh,long,busy")
    args = ap.parse_args()
    template = assistant_template()
    results = [measure(case, args, template) for case in args.cases.split(",")]
    fresh = next((r["cpu_ms_per_line"] for r in results if r["case"] == "fresh"), None)
    print(f"daemon CPU per appended line ({args.appends} appends at {args.rate:g}/s)")
    for r in results:
        ratio = f"{r['cpu_ms_per_line'] / fresh:4.1f}× fresh" if fresh else ""
        print(
            f"  {r['case']:6} history {r['history_responses']:>7} responses: "
            f"{r['cpu_ms_per_line']:6.2f} ms/line  {ratio}"
        )
    if fresh:
        worst = max(r["cpu_ms_per_line"] for r in results)
        ok = worst <= 2 * fresh and worst < 10.0
        print(f"  target: ≤ 2× fresh and < 10 ms: {'OK' if ok else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
