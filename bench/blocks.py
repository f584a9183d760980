"""`usage blocks --json` next to ccusage's `blocks --json` on generated histories: per block, start, end and the
four token counts, and each tool's wall time.

The histories are those of tests/test_usage_blocks.py (sessions with idle stretches around 5 h, several
models, a fork that copies its parent's responses),. ccusage from bench/.cache (installed by
`python bench/ingest.py --install-ccusage`) or PATH.

    python bench/blocks.py [--seeds 1 2 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
KEYS = {
    "input_tokens": "inputTokens",
    "output_tokens": "outputTokens",
    "cache_creation_input_tokens": "cacheCreationInputTokens",
    "cache_read_input_tokens": "cacheReadInputTokens",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    args = ap.parse_args()
    from test_usage_blocks import find_ccusage, random_history, write_history

    exe = find_ccusage()
    if exe is None:
        raise SystemExit("ccusage not found: python bench/ingest.py --install-ccusage")
    version = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    print(f"{version}; TZ=UTC")
    for seed in args.seeds:
        tmp = Path(tempfile.mkdtemp(prefix="si-blocks-bench-"))
        config = tmp / "claude"
        projects = write_history(config, random_history(seed))
        env = dict(os.environ, SKILL_INSIGHTS_HOME=str(tmp / "si"), CLAUDE_CONFIG_DIR=str(config), TZ="UTC")
        subprocess.run(
            [sys.executable, "-m", "skill_insights", "ingest", "--projects-dir", str(projects)],
            env=env,
            check=True,
            capture_output=True,
        )
        t0 = time.perf_counter()
        ours = json.loads(
            subprocess.run(
                [sys.executable, "-m", "skill_insights", "usage", "blocks", "--json"],
                env=env,
                check=True,
                capture_output=True,
            ).stdout
        )["rows"]
        t1 = time.perf_counter()
        theirs = json.loads(
            subprocess.run([exe, "blocks", "--json", "--offline"], env=env, check=True, capture_output=True).stdout
        )["blocks"]
        t2 = time.perf_counter()
        gaps = sum(1 for b in theirs if b.get("isGap"))
        theirs = [b for b in theirs if not b.get("isGap")]
        got = [(r["start"], r["end"], *(r[k] for k in KEYS)) for r in ours]
        want = [(b["startTime"], b["endTime"], *(b["tokenCounts"][v] for v in KEYS.values())) for b in theirs]
        same = sum(1 for a, b in zip(got, want, strict=False) if a == b)
        responses = sum(r["responses"] for r in ours)
        print(
            f"seed {seed}: {responses} responses, {len(ours)} blocks (ccusage {len(theirs)} + {gaps} gap rows); "
            f"equal per block (start, end, 4 token counts): {same}/{max(len(got), len(want))}; "
            f"usage blocks {1000 * (t1 - t0):.0f} ms, ccusage {1000 * (t2 - t1):.0f} ms"
        )
        for a, b in zip(got, want, strict=False):
            if a != b:
                print(f"  differs: ours {a} ccusage {b}")


if __name__ == "__main__":
    main()
