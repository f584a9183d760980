"""CPU time and memory of an idle capture daemon.

Starts a real daemon on a throwaway home watching a projects dir filled with every real-client fixture
(optionally cloned `--copies` times, to see how idle cost scales with the tree), waits until the start-up
reconcile is done, then measures the daemon's CPU time (utime+stime from /proc/<pid>/stat) over `--seconds`
of idleness and its RSS (VmRSS, VmHWM from /proc/<pid>/status). Targets: ≤ 0.5 s CPU per 60 s, ≤ 80 MB RSS.

    python bench/daemon_idle.py [--seconds 60] [--copies 0] [--polling]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from test_daemon_support import FIXTURES, DaemonProc, make_env, rewrite_ids


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", "rb") as fh:
        fields = fh.read().rsplit(b")", 1)[1].split()
    # Fields 14 and 15 of the whole line (utime, stime) are 12 and 13 after the command name.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def mem_kb(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM", "Threads"):
                out[key] = int(rest.split()[0])
    return out


def fill(projects: Path, copies: int) -> int:
    for scen in sorted(FIXTURES.glob("*/*/projects")):
        shutil.copytree(scen, projects, dirs_exist_ok=True)
    sources = sorted(projects.rglob("*.jsonl"))
    for n in range(copies):
        for src in sources:
            rel = src.relative_to(projects)
            dest = projects / f"-clone-{n}" / rel.relative_to(rel.parts[0])
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(rewrite_ids(src.read_bytes(), n))
    return len(list(projects.rglob("*.jsonl")))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--copies", type=int, default=0, help="extra clones of the fixture tree")
    ap.add_argument("--polling", action="store_true", help="run the daemon with the polling observer")
    args = ap.parse_args()
    if not os.path.exists("/proc/self/stat"):
        print("needs /proc (Linux)")
        return 2

    root = Path(tempfile.mkdtemp(prefix="si-idle-"))
    env = make_env(root)
    n_files = fill(Path(env["CLAUDE_CONFIG_DIR"]) / "projects", args.copies)
    daemon = DaemonProc(env, *(["--polling"] if args.polling else []))
    try:
        t = time.perf_counter()
        daemon.wait_ready(60)
        st = daemon.wait_idle(300)
        startup = time.perf_counter() - t
        cpu_start_total = cpu_seconds(daemon.pid)
        time.sleep(1.0)  # let the last status write and log flush settle
        c0 = cpu_seconds(daemon.pid)
        time.sleep(args.seconds)
        c1 = cpu_seconds(daemon.pid)
        mem = mem_kb(daemon.pid)
        final = daemon.status()
    finally:
        daemon.stop()
        shutil.rmtree(root, ignore_errors=True)

    idle_cpu = c1 - c0
    per60 = idle_cpu * 60 / args.seconds
    rss_mb = mem["VmRSS"] / 1024
    print(f"daemon idle: {args.seconds:.0f}s, {n_files} transcript files watched ({st['observer']} observer)")
    print(f"  start-up to idle  {startup:6.2f} s  (CPU {cpu_start_total:.2f} s, incl. initial ingest)")
    print(
        f"  idle CPU          {idle_cpu:6.3f} s  = {per60:.3f} s per 60 s  (target ≤ 0.5: "
        f"{'OK' if per60 <= 0.5 else 'MISSED'})"
    )
    print(
        f"  RSS               {rss_mb:6.1f} MB  (peak {mem['VmHWM'] / 1024:.1f} MB; target ≤ 80: "
        f"{'OK' if rss_mb <= 80 else 'MISSED'})"
    )
    print(f"  threads           {mem['Threads']}")
    print(f"  files_watched {final['files_watched']}, backlog {final['backlog']}, ingests {final['stats']['ingests']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
