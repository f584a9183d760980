"""Wall time of the installed statusLine command against a bare interpreter start (target: ≤ 1.5× `python -c pass`).

Runs the exact command `skill-insights install --statusline` writes into settings.json, with a real-client
statusLine payload (tests/fixtures/claude-code/2.1.337/statusline) naming a session of a store that holds
`--copies` clones of every fixture session (a few thousand responses over today and yesterday, so the
5-hour block is read from real rows), in a throwaway SKILL_INSIGHTS_HOME:
  - store: session, today, block and context from the store;
  - rate limits: the same with a `rate_limits` reading, which is also spooled for `usage quota`;
  - no store: the store's folder is empty (what a new install shows).
Runs are interleaved round-robin so machine noise hits every variant alike. Prints medians of N runs.

    python bench/statusline.py [--runs 30] [--copies 20]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _cli  # the sibling module, importable however the script is started

ROOT = Path(__file__).resolve().parent.parent
PAYLOADS = ROOT / "tests" / "fixtures" / "claude-code" / "2.1.337" / "statusline" / "payloads.jsonl"


def build_store(home: Path, copies: int) -> str:
    """Ingest `copies` clones of the fixture sessions, their timestamps moved to the last hours; returns the id
    of one session in the store."""
    sys.path.insert(0, str(ROOT / "tests"))
    from transcript_corpus import big_corpus

    projects = big_corpus(home / "corpus", copies)
    now = time.time()
    # The fixtures are dated when they were recorded: move every line to the last 20 hours, so today's cost and
    # the block in progress read real rows.
    from datetime import UTC, datetime

    files = sorted(projects.rglob("*.jsonl"))
    for i, f in enumerate(files):
        stamp = datetime.fromtimestamp(now - 20 * 3600 + i * (20 * 3600 / len(files)), UTC)
        iso = stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        lines = []
        for line in f.read_text().splitlines():
            try:
                doc = json.loads(line)
            except ValueError:
                lines.append(line)
                continue
            if isinstance(doc, dict) and "timestamp" in doc:
                doc["timestamp"] = iso
            lines.append(json.dumps(doc, separators=(",", ":")))
        f.write_text("\n".join(lines) + "\n")
    env = dict(os.environ, SKILL_INSIGHTS_HOME=str(home / "si"))
    subprocess.run(
        [sys.executable, "-m", "skill_insights", "ingest", "--projects-dir", str(projects)],
        env=env,
        check=True,
        capture_output=True,
    )
    return files[-1].stem


def timed(argv: list[str], stdin: bytes, env: dict[str, str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    p = subprocess.run(argv, input=stdin, capture_output=True, env=env, check=False)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"{argv} misbehaved: rc={p.returncode} stderr={p.stderr[-300:]!r}")
    return dt, p.stdout.decode().strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--copies", type=int, default=20)
    args = ap.parse_args()

    from skill_insights.hooks import install

    install.precompile()  # what `install` does; a wheel install has these .pyc files already
    tmp = Path(tempfile.mkdtemp(prefix="si-statusline-bench-"))
    sid = build_store(tmp, args.copies)
    env = dict(os.environ, SKILL_INSIGHTS_HOME=str(tmp / "si"))
    empty_env = dict(os.environ, SKILL_INSIGHTS_HOME=str(tmp / "empty"))
    doc = json.loads(PAYLOADS.read_text().splitlines()[-1])
    doc["session_id"] = sid
    payload = json.dumps(doc, separators=(",", ":")).encode() + b"\n"
    now = time.time()
    limits = {
        "five_hour": {"used_percentage": 42, "resets_at": int(now + 3 * 3600)},
        "seven_day": {"used_percentage": 17, "resets_at": int(now + 4 * 86400)},
    }
    with_limits = json.dumps({**doc, "rate_limits": limits}, separators=(",", ":")).encode() + b"\n"
    py = sys.executable
    command = shlex.split(install.statusline_command())
    variants: dict[str, tuple[list[str], bytes, dict[str, str]]] = {
        "python -c pass": ([py, "-c", "pass"], b"", env),
        "python -S -c pass": ([py, "-S", "-c", "pass"], b"", env),
        "statusline, store": (command, payload, env),
        "statusline, rate limits": (command, with_limits, env),
        "statusline, no store": (command, payload, empty_env),
    }
    cli = _cli.console_script()
    if cli:
        variants["skill-insights statusline (console script)"] = ([cli, "statusline"], payload, env)
    times: dict[str, list[float]] = {k: [] for k in variants}
    lines: dict[str, str] = {}
    for _ in range(args.runs):
        for name, (argv, stdin, e) in variants.items():
            dt, out = timed(argv, stdin, e)
            times[name].append(dt)
            lines[name] = out
    base = statistics.median(times["python -c pass"])
    print(f"{args.runs} runs each, store of {args.copies} clones of every fixture session; medians:")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"  {name:<45} {med * 1000:7.1f} ms  {med / base:5.2f}× python -c pass")
    for name in ("statusline, store", "statusline, rate limits", "statusline, no store"):
        print(f"  line ({name}): {lines[name]}")


if __name__ == "__main__":
    main()
