"""Append-to-queryable latency of the capture daemon.

Starts a real daemon (`python -m skill_insights daemon run`) on a throwaway SKILL_INSIGHTS_HOME and a
throwaway Claude config dir (CLAUDE_CONFIG_DIR), appends realistic assistant lines one at a time to a watched
transcript, and measures for each the time from the end of the write() until the session row the daemon
maintains (what `usage session --json` reads) includes it. Prints p50/p95/max. Target: p95 ≤ 1 s.

    python bench/freshness.py [--n 50] [--polling] [--reopen] [--gap-ms 50-250]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from test_daemon_support import (
    FIXTURES,
    DaemonProc,
    assistant_line,
    assistant_template,
    make_env,
    usage_sessions,
    wait_for,
)


def percentile(xs: list[float], p: float) -> float:
    s = sorted(xs)
    k = max(0, min(len(s) - 1, round(p / 100 * len(s) + 0.5) - 1))  # nearest rank
    return s[k]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=50, help="lines to append")
    ap.add_argument("--polling", action="store_true", help="run the daemon with the polling observer")
    ap.add_argument("--gap-ms", default="50-250", help="random pause between appends (min-max ms)")
    ap.add_argument(
        "--reopen",
        action="store_true",
        help="open/append/close per line (like Node's fs.appendFile) instead of one open file",
    )
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = ap.parse_args()
    lo, hi = (float(x) for x in args.gap_ms.split("-"))

    root = Path(tempfile.mkdtemp(prefix="si-fresh-"))
    env = make_env(root)
    projects = Path(env["CLAUDE_CONFIG_DIR"]) / "projects"
    shutil.copytree(FIXTURES / "2.1.197" / "bash_tool" / "projects", projects)
    transcript = next(projects.rglob("*.jsonl"))
    sid = transcript.stem
    daemon = DaemonProc(env, *(["--polling"] if args.polling else []))
    try:
        daemon.wait_ready()
        st = daemon.wait_idle()
        db = sqlite3.connect(
            f"file:{Path(env['SKILL_INSIGHTS_HOME']) / 'data' / 'skill-insights.db'}?mode=ro", uri=True, timeout=10
        )

        def output_tokens() -> int:
            row = db.execute("SELECT output_tokens FROM sessions WHERE session_id = ?", [sid]).fetchone()
            return row[0] if row else -1

        expected = wait_for(lambda: output_tokens() > 0 and output_tokens(), what="the initial session")
        template = assistant_template()
        latencies: list[float] = []
        rng = random.Random(7)
        fd = os.open(transcript, os.O_WRONLY | os.O_APPEND)
        try:
            for i in range(args.n):
                tokens = 1000 + i
                line, _ = assistant_line(template, sid, tokens)
                expected += tokens
                if args.reopen:
                    with open(transcript, "ab") as fh:
                        fh.write(line)
                else:
                    os.write(fd, line)  # one write() per line into a file the writer keeps open
                t0 = time.perf_counter()
                deadline = t0 + 30
                while output_tokens() != expected:
                    if time.perf_counter() > deadline:
                        raise SystemExit(f"line {i} not visible after 30 s")
                    time.sleep(0.002)
                latencies.append(time.perf_counter() - t0)
                time.sleep(rng.uniform(lo, hi) / 1000)
        finally:
            os.close(fd)
        # The same figure through the CLI the user runs, once at the end.
        row = next(r for r in usage_sessions(env)["rows"] if r["session_id"] == sid)
        assert row["output_tokens"] == expected, (row["output_tokens"], expected)
        status = daemon.status()
    finally:
        daemon.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)

    ms = [x * 1000 for x in latencies]
    mode = "open/append/close per line" if args.reopen else "one open file, a write() per line"
    print(f"freshness: {len(ms)} appends ({mode}), observer={st['observer']}, debounce {st['debounce_ms']} ms")
    print(f"  p50 {statistics.median(ms):7.1f} ms")
    p95 = percentile(ms, 95)
    print(f"  p95 {p95:7.1f} ms   (target ≤ 1000 ms: {'OK' if p95 <= 1000 else 'MISSED'})")
    print(f"  max {max(ms):7.1f} ms   mean {statistics.fmean(ms):.1f} ms   min {min(ms):.1f} ms")
    print(f"  verified through `usage session --json`: output_tokens {expected}")
    print("  daemon: " + json.dumps({k: status[k] for k in ("files_watched", "backlog", "rss_bytes")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
