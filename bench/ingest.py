"""Capture benchmark: cold/warm ingest, `usage daily --json`, append-to-queryable latency, vs ccusage.

    python bench/ingest.py [--mb 200] [--keep DIR] [--sessions 200] [--seed 42] [--runs 5]

Builds a deterministic Claude Code projects folder from real-client line shapes (bench/_corpus.py), counts
its tokens independently (no skill_insights code), then drives the real `skill-insights` CLI as subprocesses
in a fresh SKILL_INSIGHTS_HOME. When ccusage is found (PATH, ./node_modules/.bin, bench/.cache) it runs
`ccusage daily --offline --json` on the same corpus and prints the ratios against the targets of issue 2.
Everything runs with TZ=UTC so both tools and the oracle group days the same way.
Every timing is a median of --runs; each cold run starts from no store, and ccusage's runs are interleaved
with ours so that load from elsewhere on the machine weighs on both alike.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _cli  # the sibling modules, importable however the script is started
import _corpus

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
CCUSAGE_VERSION = "20.0.24"
FIELDS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")

# Targets from issue 2.
COLD_VS_CCUSAGE = 3.0
DAILY_VS_CCUSAGE = 0.25
PEAK_RSS_MB = 200.0


@dataclass
class Run:
    cmd: list[str]
    wall: float
    rc: int
    stdout: bytes
    stderr: bytes
    maxrss_mb: float

    def check(self) -> Run:
        if self.rc != 0:
            sys.stderr.write(self.stderr.decode(errors="replace")[-4000:])
            raise SystemExit(f"command failed ({self.rc}): {' '.join(self.cmd)}")
        return self


def run(cmd: list[str], env: dict[str, str]) -> Run:
    """Wall time and the child's own peak RSS (wait4 gives per-child rusage, unlike RUSAGE_CHILDREN's max)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4: tell Popen
        out.seek(0)
        err.seek(0)
        return Run(cmd, wall, p.returncode, out.read(), err.read(), ru.ru_maxrss / 1024)


def skill_insights_cmd() -> list[str]:
    exe = _cli.console_script()
    return [exe] if exe else [sys.executable, "-c", "from skill_insights.cli import cli; cli()"]


def find_ccusage(install: bool) -> str | None:
    for c in (shutil.which("ccusage"), REPO / "node_modules/.bin/ccusage", BENCH / ".cache/node_modules/.bin/ccusage"):
        if c and Path(c).exists():
            return str(c)
    if install and shutil.which("npm"):
        cache = BENCH / ".cache"
        cache.mkdir(exist_ok=True)
        print(f"installing ccusage@{CCUSAGE_VERSION} into {cache} ...", flush=True)
        r = subprocess.run(
            ["npm", "install", "--prefix", str(cache), "--no-audit", "--no-fund", f"ccusage@{CCUSAGE_VERSION}"],
            capture_output=True,
            text=True,
        )
        exe = cache / "node_modules/.bin/ccusage"
        if r.returncode == 0 and exe.exists():
            return str(exe)
        print(f"npm install failed: {r.stderr.strip()[-500:]}", flush=True)
    return None


def by_day(rows: list[dict], key: str = "date") -> dict[str, list[int]]:
    return {r[key]: [int(r.get(f) or 0) for f in FIELDS] for r in rows}


def diff_days(got: dict[str, list[int]], want: dict[str, list[int]]) -> list[str]:
    out = []
    for day in sorted(set(got) | set(want)):
        g, w = got.get(day, [0, 0, 0, 0]), want.get(day, [0, 0, 0, 0])
        if g != w:
            out.append(
                f"  {day}: "
                + ", ".join(
                    f"{f} {g[i]:,} vs {w[i]:,} ({g[i] - w[i]:+,})" for i, f in enumerate(FIELDS) if g[i] != w[i]
                )
            )
    return out


def ccusage_days(doc: dict) -> dict[str, list[int]]:
    """ccusage's daily JSON: rows under `daily` with camelCase token fields (tolerate snake_case too)."""
    rows = doc.get("daily") or doc.get("rows") or []
    names = (
        ("inputTokens", "input_tokens"),
        ("outputTokens", "output_tokens"),
        ("cacheCreationTokens", "cache_creation_input_tokens", "cacheCreationInputTokens"),
        ("cacheReadTokens", "cache_read_input_tokens", "cacheReadInputTokens"),
    )
    out: dict[str, list[int]] = {}
    for r in rows:
        day = r.get("date") or r.get("period")
        vals = [int(next((r[n] for n in alts if n in r), 0) or 0) for alts in names]
        row = out.setdefault(str(day), [0, 0, 0, 0])
        for i in range(4):
            row[i] += vals[i]
    return out


def session_row(doc: dict, sid: str) -> list[int] | None:
    for r in doc.get("rows", []):
        if r.get("session_id") == sid:
            return [int(r.get(f) or 0) for f in FIELDS]
    return None


def append_line(path: Path, output_tokens: int) -> int:
    """Append one new assistant response (fresh ids) modelled on the file's last real one; returns its tokens."""
    last = None
    with open(path, "rb") as fh:
        for raw in fh:
            if b'"type":"assistant"' in raw and b"<synthetic>" not in raw:
                last = raw
    assert last is not None, f"no assistant line in {path}"
    d = orjson.loads(last)
    stamp = time.time_ns()
    d["parentUuid"] = d.get("uuid")
    d["uuid"] = f"bench-{stamp}"
    d["message"]["id"] = f"msg_bench{stamp}"
    d["requestId"] = f"req_bench{stamp}"
    d["message"]["content"] = [{"type": "text", "text": "appended by bench/ingest.py"}]
    u = d["message"]["usage"]
    u.update(
        input_tokens=3,
        output_tokens=output_tokens,
        cache_creation_input_tokens=0,
        cache_read_input_tokens=1000,
        cache_creation={"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 0},
    )
    # Same day as the line it follows, so daily rows of other days do not move.
    d["timestamp"] = d["timestamp"][:-4] + "999Z"
    with open(path, "ab") as fh:
        fh.write(orjson.dumps(d) + b"\n")
    return 3 + output_tokens + 1000


def fmt_ratio(a: float, b: float | None) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, default=200.0, help="corpus size in MB (10^6 bytes)")
    ap.add_argument("--sessions", type=int, default=200)
    ap.add_argument("--scale", type=float, default=1.0, help="multiply --mb and --sessions (10: the 1.9 GB corpus)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--keep", type=Path, help="build the corpus here and keep it (and the store) afterwards")
    ap.add_argument("--runs", type=int, default=5, help="repeats of every timing (median)")
    ap.add_argument("--no-ccusage", action="store_true")
    ap.add_argument(
        "--install-ccusage",
        action="store_true",
        help=f"npm install ccusage@{CCUSAGE_VERSION} into bench/.cache when it is not found",
    )
    args = ap.parse_args()
    args.mb, args.sessions = args.mb * args.scale, round(args.sessions * args.scale)

    if args.keep:
        work = args.keep.resolve()
        if work.exists() and any(work.iterdir()) and not (work / "corpus" / _corpus.STAMP).exists():
            raise SystemExit(f"{work} is not empty and holds no bench corpus: refusing to overwrite it")
        work.mkdir(parents=True, exist_ok=True)
    else:
        work = Path(tempfile.mkdtemp(prefix="si-bench-"))
    corpus = work / "corpus"
    home = work / "si-home"
    if home.exists():
        shutil.rmtree(home)
    try:
        return _bench(args, work, corpus, home)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def _bench(args: argparse.Namespace, work: Path, corpus: Path, home: Path) -> int:
    # -- corpus + independent count -------------------------------------------------------------------------
    # Built in a child process: a child's ru_maxrss starts from its parent's RSS at fork (Linux keeps the
    # high-water mark across exec), so the benchmark itself must stay small for the peak RSS figures to hold.
    summary_path = work / "expected.json"
    gen = run(
        [
            sys.executable,
            str(BENCH / "_corpus.py"),
            "--out",
            str(corpus),
            "--mb",
            str(args.mb),
            "--sessions",
            str(args.sessions),
            "--seed",
            str(args.seed),
            "--summary",
            str(summary_path),
        ],
        dict(os.environ),
    ).check()
    meta = json.loads(summary_path.read_text())
    want = _corpus.Expected(**{k: v for k, v in meta.items() if k in _corpus.Expected.__dataclass_fields__})
    mb = meta["bytes"] / 1e6
    print(
        f"corpus: {corpus}  {mb:.1f} MB, {meta['files']} files ({meta['subagent_files']} subagent), "
        f"{want.lines:,} lines, {want.assistant_lines:,} assistant lines -> {want.responses:,} responses "
        f"({want.duplicate_lines:,} duplicate lines, {want.partial_groups} groups with growing output_tokens, "
        f"{want.synthetic_lines} synthetic); {len(want.largest)} days; built and counted in {gen.wall:.1f}s",
        flush=True,
    )
    floor = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    env = dict(os.environ, SKILL_INSIGHTS_HOME=str(home), TZ="UTC", NO_COLOR="1")
    env.pop("CLAUDE_CONFIG_DIR", None)
    si = skill_insights_cmd()
    print(f"skill-insights: {' '.join(si)}", flush=True)
    projects = str(corpus / "projects")

    # -- ccusage setup ---------------------------------------------------------------------------------------
    cc_exe = None if args.no_ccusage else find_ccusage(args.install_ccusage)
    cc_runs: list[Run] = []
    cc_home = work / "ccusage-home"
    cc_home.mkdir(exist_ok=True)
    # ccusage reads $CLAUDE_CONFIG_DIR/projects; an empty HOME keeps other agents' logs out of its report.
    cc_env = dict(
        os.environ,
        CLAUDE_CONFIG_DIR=str(corpus),
        HOME=str(cc_home),
        TZ="UTC",
        NO_COLOR="1",
        XDG_CONFIG_HOME=str(cc_home / ".config"),
        XDG_CACHE_HOME=str(cc_home / ".cache"),
        XDG_DATA_HOME=str(cc_home / ".local/share"),
    )
    cc_cmd = [cc_exe, "daily", "--offline", "--json", "--timezone", "UTC"] if cc_exe else []

    def ccusage_once() -> None:
        # Interleaved with our runs, so that whatever else the machine does weighs on both alike.
        if cc_exe:
            cc_runs.append(run(cc_cmd, cc_env).check())

    # -- ours -----------------------------------------------------------------------------------------------
    colds = []
    for _ in range(args.runs):
        shutil.rmtree(home, ignore_errors=True)  # every cold run starts from no store at all
        colds.append(run([*si, "ingest", "--projects-dir", projects], env).check())
        ccusage_once()
    cold_wall = statistics.median(r.wall for r in colds)
    cold_rss = max(r.maxrss_mb for r in colds)
    print(
        f"cold ingest: {cold_wall:.2f}s  {mb / cold_wall:.1f} MB/s  peak RSS {cold_rss:.0f} MB  "
        f"| {colds[-1].stdout.decode().strip()}",
        flush=True,
    )
    warm = [run([*si, "ingest", "--projects-dir", projects], env).check() for _ in range(args.runs)]
    warm_wall = statistics.median(r.wall for r in warm)
    print(f"warm ingest (nothing changed): {warm_wall:.3f}s  | {warm[-1].stdout.decode().strip()}", flush=True)
    daily = []
    for _ in range(args.runs):
        daily.append(run([*si, "usage", "daily", "--json"], env).check())
        ccusage_once()
    daily_wall = statistics.median(r.wall for r in daily)
    print(f"usage daily --json: {daily_wall:.3f}s", flush=True)

    doc = json.loads(daily[-1].stdout)
    got = by_day(doc["rows"])
    diffs = diff_days(got, want.largest)
    tot_got = [int(doc["totals"].get(f) or 0) for f in FIELDS]
    tot_want = _corpus.Expected.totals(want.largest)
    totals_ok = not diffs and tot_got == tot_want
    print(
        f"totals vs independent count: {'OK' if totals_ok else 'MISMATCH'}  "
        + ", ".join(f"{f}={v:,}" for f, v in zip(FIELDS, tot_want, strict=True)),
        flush=True,
    )
    if not totals_ok:
        print("\n".join(diffs[:40]) or f"  totals {tot_got} vs {tot_want}")

    # -- ccusage --------------------------------------------------------------------------------------------
    cc_wall: float | None = None
    cc_rss: float | None = None
    cc_match = "n/a"
    if cc_runs:
        cc_wall = statistics.median(r.wall for r in cc_runs)
        cc_rss = max(r.maxrss_mb for r in cc_runs)
        cc_doc = json.loads(cc_runs[-1].stdout)
        cc_got = ccusage_days(cc_doc)
        if not diff_days(cc_got, want.largest):
            same = "and ours" if not diff_days(cc_got, got) else "but NOT ours"
            cc_match = f"equal to the independent count {same}, to the token"
        elif not diff_days(cc_got, want.first_seen):
            lost = tot_want[1] - _corpus.Expected.totals(want.first_seen)[1]
            cc_match = (
                f"keeps the FIRST line of each response: {lost:,} output tokens fewer than the "
                f"largest-output count ({want.partial_groups} growing groups)"
            )
        else:
            cc_match = "differs from both counts:\n" + "\n".join(diff_days(cc_got, want.largest)[:20])
        print(f"ccusage daily --offline --json: {cc_wall:.3f}s  peak RSS {cc_rss:.0f} MB  ({cc_exe})", flush=True)
        print(f"ccusage totals: {cc_match}", flush=True)
    else:
        print("ccusage: not found (PATH, ./node_modules/.bin, bench/.cache); try --install-ccusage", flush=True)

    # -- one appended line -> queryable ---------------------------------------------------------------------
    target = max((p for p in (corpus / "projects").glob("*/*.jsonl")), key=lambda p: p.stat().st_size)
    sid = target.stem
    before = session_row(json.loads(run([*si, "usage", "session", "--json"], env).check().stdout), sid)
    latencies: dict[str, float] = {}
    for label, ingest_args in (("full scan", ["--projects-dir", projects]), ("--file", ["--file", str(target)])):
        added = append_line(target, output_tokens=4242)
        t0 = time.perf_counter()
        run([*si, "ingest", *ingest_args], env).check()
        after = session_row(json.loads(run([*si, "usage", "session", "--json"], env).check().stdout), sid)
        latencies[label] = time.perf_counter() - t0
        seen = after is not None and before is not None and sum(after) - sum(before) == added
        print(
            f"append -> queryable ({label}): {latencies[label]:.3f}s  {'visible' if seen else 'NOT VISIBLE'}",
            flush=True,
        )
        if not seen:
            totals_ok = False
        before = after

    # -- figures --------------------------------------------------------------------------------------------
    cold_ratio = cold_wall / cc_wall if cc_wall else None
    daily_ratio = daily_wall / cc_wall if cc_wall else None

    def verdict(ok: bool | None) -> str:
        return "n/a" if ok is None else ("PASS" if ok else "MISS")

    db = home / "skill-insights.db"
    db_mb = sum(p.stat().st_size for p in home.rglob("*.db*")) / 1e6 if home.exists() else 0.0
    print()
    print("=" * 78)
    print(
        f"corpus                 {mb:.1f} MB, {meta['files']} files, {want.lines:,} lines, "
        f"{want.responses:,} responses, {len(want.largest)} days"
    )
    print(
        f"cold ingest            {cold_wall:8.2f} s   {mb / cold_wall:6.1f} MB/s   store {db_mb:.0f} MB  "
        f"(median of {args.runs}, each from no store)"
    )
    print(
        f"peak RSS (cold)        {cold_rss:8.0f} MB                 target <= {PEAK_RSS_MB:.0f} MB  "
        f"{verdict(cold_rss <= PEAK_RSS_MB)}  (floor: this script's {floor:.0f} MB)"
    )
    print(f"warm ingest            {warm_wall:8.3f} s   (median of {args.runs})")
    print(f"usage daily --json     {daily_wall:8.3f} s   (median of {args.runs})")
    for label, v in latencies.items():
        print(f"append->queryable      {v:8.3f} s   (ingest {label} + usage session --json)")
    if cc_wall:
        print(
            f"ccusage daily          {cc_wall:8.3f} s   peak RSS {cc_rss:.0f} MB (median of {len(cc_runs)}, "
            "interleaved with ours)"
        )
        print(
            f"cold / ccusage         {fmt_ratio(cold_wall, cc_wall):>8}              target <= "
            f"{COLD_VS_CCUSAGE:.2f}x  {verdict(cold_ratio is not None and cold_ratio <= COLD_VS_CCUSAGE)}"
        )
        print(
            f"daily / ccusage        {fmt_ratio(daily_wall, cc_wall):>8}              target <= "
            f"{DAILY_VS_CCUSAGE:.2f}x  {verdict(daily_ratio is not None and daily_ratio <= DAILY_VS_CCUSAGE)}"
        )
        print(f"warm ingest / ccusage  {fmt_ratio(warm_wall, cc_wall):>8}")
        print(f"ccusage totals         {cc_match.splitlines()[0]}")
    else:
        print("ccusage                not run")
    print(f"totals                 {'OK: equal to the independent count to the token' if totals_ok else 'MISMATCH'}")
    print("=" * 78)
    if args.keep:
        print(f"kept: corpus {corpus}, store {db.parent}")
    return 0 if totals_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
