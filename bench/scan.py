"""Scan time against `find ROOT -name SKILL.md` on the same tree (DESIGN §7).

Builds 10,000 skills (≈100k files: SKILL.md + 5 references + 4 scripts each) in a temp dir, then prints the
wall time of `find`, of a first scan (every file read and hashed), of a re-scan (stat signatures, cached
results) and of the schema validation the CLI does before writing. Usage: python bench/scan.py [--skills N]
[--workers N] [--keep DIR]
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


def timed(fn, repeat: int = 3) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skills", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--keep", type=Path, help="build (or reuse) the tree here instead of a temp dir")
    args = ap.parse_args()

    from skill_insights.collectors.skills import scan
    from skill_insights.schemas.validate import validate

    tmp = Path(tempfile.mkdtemp(prefix="si-bench-scan-"))
    root = args.keep or tmp / "tree"
    try:
        if not (root / "repo000").is_dir():
            t = time.perf_counter()
            nfiles = build(root, args.skills)
            print(f"built {args.skills} skills, {nfiles} files in {time.perf_counter() - t:.1f}s under {root}")
        # Warm the page cache for both contenders alike.
        subprocess.run(["find", str(root), "-name", "SKILL.md"], stdout=subprocess.DEVNULL, check=True)

        def run_find() -> int:
            out = subprocess.run(["find", str(root), "-name", "SKILL.md"], capture_output=True, check=True)
            return out.stdout.count(b"\n")

        t_find, found = timed(run_find)
        cache = tmp / "scan-cache.json"

        def cold() -> dict:
            cache.unlink(missing_ok=True)
            return scan([root], agent_dirs=False, workers=args.workers, cache_file=cache)

        t_cold, doc = timed(cold)
        t_warm, doc2 = timed(lambda: scan([root], agent_dirs=False, workers=args.workers, cache_file=cache))
        t_nocache, _ = timed(lambda: scan([root], agent_dirs=False, workers=args.workers), repeat=1)
        t_val, _ = timed(lambda: validate(doc, "inventory"), repeat=1)
        assert isinstance(doc, dict) and isinstance(doc2, dict)
        assert doc["stats"]["skills"] == found == doc2["stats"]["skills"], (doc["stats"], found)
        assert doc["stats"] == doc2["stats"]
        print(f"cpus={os.cpu_count()} workers={args.workers} skills={doc['stats']['skills']} "
              f"files={doc['stats']['files']}")
        print(f"find -name SKILL.md        {t_find:7.3f}s")
        print(f"scan, first (read+hash)    {t_cold:7.3f}s  {t_cold / t_find:5.1f}x find")
        print(f"scan, no cache file        {t_nocache:7.3f}s  {t_nocache / t_find:5.1f}x find")
        print(f"re-scan (stat, cached)     {t_warm:7.3f}s  {t_warm / t_find:5.1f}x find")
        print(f"schema validation          {t_val:7.3f}s  (CLI only, before writing)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
