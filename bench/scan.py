"""Scan time against `find ROOT -name SKILL.md` on the same tree (DESIGN §7, issue 4: target ≤ 3× find).

Builds 10,000 skills (≈100k files: SKILL.md + 5 references + 4 scripts each), then times what a user gets:
the real CLI, `skill-insights scan ROOT --no-agent-dirs -o FILE`, as a subprocess in a fresh
SKILL_INSIGHTS_HOME — discovery, reading and hashing, schema validation, the JSON write, the SQLite store
and its diff all included:

- first scan: a new, empty SKILL_INSIGHTS_HOME for every run (no stat cache, no database yet);
- re-scan: the same home again (stat-signature cache and stored previous scan present, nothing changed).

Each is the median of --runs rounds (find, first scan, re-scan, interleaved so a changing machine load
weighs on all alike), printed next to the median of `find` with the ratio and PASS/MISS against 3×.
Library-level figures (collectors.skills.scan, validation alone) follow as secondary lines.

    python bench/scan.py [--skills N] [--runs N] [--keep DIR] [--no-library]

Run it with the interpreter of a clean, non-editable install (`python -m venv V && V/bin/pip install .`,
then `V/bin/python bench/scan.py`): the console script beside that interpreter is the one timed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _cli  # the sibling module, importable however the script is started

TARGET = 3.0  # scan wall time / find wall time, issue 4


def build(root: Path, n: int) -> int:
    files = 0
    for i in range(n):
        d = root / f"repo{i // 100:03d}" / ".claude" / "skills" / f"skill-{i}"
        (d / "scripts").mkdir(parents=True)
        (d / "references").mkdir()
        (d / "SKILL.md").write_text(
            f"---\nname: skill-{i}\ndescription: Does thing {i}. Use when benchmarking scans.\n---\n"
            f"# Skill {i}\n\nRead [the guide](references/r0.md), then run `scripts/s0.sh`.\n" + "Step.\n" * 40
        )
        for j in range(5):
            (d / "references" / f"r{j}.md").write_text(f"reference {i}/{j}\n" * 20)
        for j in range(4):
            (d / "scripts" / f"s{j}.sh").write_text(f"echo {i} {j}\n" * 10)
        files += 10
    return files


def cli_command() -> list[str]:
    exe = _cli.console_script()
    if exe:
        return [exe]
    print(f"note: no console script; timing `{sys.executable} -m skill_insights` instead")
    return [sys.executable, "-m", "skill_insights"]


def wall(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, bytes]:
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, env=env)
    dt = time.perf_counter() - t
    if out.returncode != 0:
        sys.stderr.write(out.stderr.decode(errors="replace")[-4000:])
        raise SystemExit(f"command failed ({out.returncode}): {' '.join(cmd)}")
    return dt, out.stdout


def line(label: str, t: float, t_find: float | None = None, times: list[float] | None = None) -> str:
    s = f"{label:<34}{t:7.3f}s"
    if t_find:
        ratio = t / t_find
        s += f"  {ratio:5.1f}x find"
        if times is not None:
            s += f"  {'PASS' if ratio <= TARGET else 'MISS'} (≤ {TARGET:g}x)"
    if times is not None and len(times) > 1:
        s += f"   runs: {' '.join(f'{x:.2f}' for x in times)}"
    return s


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skills", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=5, help="rounds; the median of each figure is reported")
    ap.add_argument("--keep", type=Path, help="build (or reuse) the tree here instead of a temp dir")
    ap.add_argument("--no-library", action="store_true", help="skip the library-level secondary figures")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="si-bench-scan-"))
    root = args.keep.resolve() if args.keep else tmp / "tree"
    try:
        if not (root / "repo000").is_dir():
            t = time.perf_counter()
            nfiles = build(root, args.skills)
            print(f"built {args.skills} skills, {nfiles} files in {time.perf_counter() - t:.1f}s under {root}")
        find = ["find", str(root), "-name", "SKILL.md"]
        wall(find)  # warm the page cache for both contenders alike
        cmd = cli_command()
        base_env = {k: v for k, v in os.environ.items() if k != "SKILL_INSIGHTS_HOME"}
        find_runs: list[float] = []
        first_runs: list[float] = []
        rescan_runs: list[float] = []
        found = 0
        out_file = tmp / "inventory.json"
        # Interleaved (find, first scan, re-scan) rounds: a machine whose load changes meanwhile weighs on
        # all three alike, and the medians compare like with like.
        for i in range(args.runs):
            dt, out = wall(find)
            find_runs.append(dt)
            found = out.count(b"\n")
            home = tmp / f"home{i}"  # fresh: no stat cache, no store, no previous scan
            env = {**base_env, "SKILL_INSIGHTS_HOME": str(home)}
            argv = [*cmd, "scan", str(root), "--no-agent-dirs", "-o", str(out_file)]
            dt, _ = wall(argv, env)
            first_runs.append(dt)
            dt, _ = wall(argv, env)  # the same home again: cache and stored scan present, nothing changed
            rescan_runs.append(dt)
            shutil.rmtree(home, ignore_errors=True)
        t_find = statistics.median(find_runs)
        import orjson

        doc = orjson.loads(out_file.read_bytes())
        stats = doc["stats"]
        assert stats["skills"] == found, (stats, found)
        t_first = statistics.median(first_runs)
        t_rescan = statistics.median(rescan_runs)
        print(
            f"cpus={os.cpu_count()} skills={stats['skills']} files={stats['files']} runs={args.runs} "
            f"cli={' '.join(cmd)}"
        )
        print(line("find -name SKILL.md", t_find, times=find_runs))
        print(line("CLI scan -o, first (fresh home)", t_first, t_find, first_runs))
        print(line("CLI scan -o, re-scan", t_rescan, t_find, rescan_runs))
        if not args.no_library:
            library(root, tmp, t_find, max(1, args.runs // 2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def library(root: Path, tmp: Path, t_find: float, runs: int) -> None:
    """Secondary: the library call alone, in this process (no interpreter start, store or write)."""
    from skill_insights.collectors.skills import scan
    from skill_insights.schemas.validate import validate

    cache = tmp / "lib-cache.json"

    def timed(fn) -> tuple[float, object]:
        times, out = [], None
        for _ in range(runs):
            t = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - t)
        return statistics.median(times), out

    def cold() -> dict:
        cache.unlink(missing_ok=True)
        return scan([root], agent_dirs=False, cache_file=cache)

    t_cold, doc = timed(cold)
    t_warm, doc2 = timed(lambda: scan([root], agent_dirs=False, cache_file=cache))
    validate(doc, "inventory")  # compile the validator once, as a warm process would have
    t_val, _ = timed(lambda: validate(doc, "inventory"))
    assert isinstance(doc, dict) and isinstance(doc2, dict) and doc["stats"] == doc2["stats"]
    print(line("  library scan, first (read+hash)", t_cold, t_find))
    print(line("  library re-scan (stat, cached)", t_warm, t_find))
    print(line("  library schema validation", t_val))


if __name__ == "__main__":
    sys.exit(main())
