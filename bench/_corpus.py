"""A deterministic Claude Code projects folder built from real-client line shapes, and an independent count.

The generator replays the transcripts the real client wrote (tests/fixtures/claude-code, 2.1.197 and 2.1.330)
as "turns" of synthetic sessions: every id is re-minted per turn, timestamps follow a per-session clock, and
assistant usage is re-drawn per API response (every line of one response carries the same usage, as the real
client writes it). It adds what the fixtures show only once: forks that copy earlier lines into a new file,
subagent files with `.meta.json`, synthetic API-error lines, and a few older-style response groups whose early
lines carry a smaller `output_tokens`.

Nothing here imports skill_insights: `count_corpus` is the independent oracle the benchmark checks against.
"""

from __future__ import annotations

import os
import random
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "claude-code"
VERSIONS = ("2.1.197", "2.1.330")
STAMP = ".bench-corpus"

# Every id the client mints, plus the ISO timestamps: one regex pass per line rewrites them all.
_TOKEN_RE = re.compile(
    rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    rb"|msg_[0-9A-Za-z]{16,}|req_[0-9A-Za-z]{16,}|toolu_[0-9A-Za-z]{16,}"
    rb"|(?<![0-9a-f])a[0-9a-f]{16}(?![0-9a-f])"
    rb"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
)
_TS_RE = re.compile(rb'"timestamp":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)"')
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

TEMPLATE_CWD = b"/home/dev/project"
TEMPLATE_PROJECT_DIR = b"-home-dev-project"
PROJECTS = ("webapp", "api-server", "infra", "ml-pipeline", "docs.site", "mobile_app", "cli-tool", "data-eng")
MODELS = (
    ("claude-sonnet-4-5", 40),
    ("claude-opus-4-5", 18),
    ("claude-haiku-4-5", 12),
    ("claude-sonnet-4-5-20250929", 15),
    ("claude-opus-4-5-20251101", 8),
    ("claude-haiku-4-5-20251001", 7),
)
SKILLS = (b"demo-skill", b"pdf", b"code-review", b"release-notes", b"sql-helper", b"dataviz")
MCP_TOOLS = (
    b"mcp__demo__echo",
    b"mcp__github__create_issue",
    b"mcp__github__list_prs",
    b"mcp__linear__search",
    b"mcp__postgres__query",
    b"mcp__browser__navigate",
)
# (scenario, weight): how often each real-client scenario is replayed as one turn of a session.
SCENARIOS = (
    ("bash_tool", 20),
    ("thinking_parallel", 14),
    ("skill", 12),
    ("subagent", 10),
    ("mcp_tool", 10),
    ("hello", 8),
    ("interactive", 8),
    ("interactive_clear", 6),
    ("resume", 6),
    ("interactive_sigterm", 3),
    ("api_error", 2),
)
DAY0 = datetime(2026, 10, 1, tzinfo=UTC)
DAYS = 30
PARTIAL_GROUP_RATE = 0.03  # share of multi-line responses written like older clients (early lines smaller)


@dataclass(frozen=True, slots=True)
class TLine:
    """One template line: where it goes (main or subagent file) and how to treat it."""

    sub: bool
    raw: bytes
    ts_ms: int | None
    assistant: bool = False
    group: bytes | None = None  # template message.id of an assistant line
    last_in_group: bool = False
    group_size: int = 1


@dataclass
class Template:
    version: str
    scenario: str
    session_id: bytes
    lines: list[TLine]
    meta: bytes | None = None  # the subagent's .meta.json
    agent_id: bytes | None = None


@dataclass
class Usage:
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int


@dataclass
class Expected:
    """Per-day totals (input, output, cache creation, cache read) of distinct billable responses."""

    largest: dict[str, list[int]] = field(default_factory=dict)  # largest output_tokens per response
    first_seen: dict[str, list[int]] = field(default_factory=dict)  # first line per response (ccusage-style)
    responses: int = 0
    lines: int = 0
    assistant_lines: int = 0
    synthetic_lines: int = 0
    duplicate_lines: int = 0
    partial_groups: int = 0

    @staticmethod
    def totals(by_day: dict[str, list[int]]) -> list[int]:
        out = [0, 0, 0, 0]
        for v in by_day.values():
            for i in range(4):
                out[i] += v[i]
        return out


def _ts_ms(s: bytes) -> int:
    dt = datetime.strptime(s.decode(), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def _fmt_ts(ms: int) -> bytes:
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z".encode()


def _read_lines(path: Path, sub: bool) -> list[TLine]:
    out: list[TLine] = []
    last: int | None = None
    for raw in path.read_bytes().splitlines():
        # A `cost-state` line is Claude Code's ledger of the session it was written in: replayed into a generated
        # session it would claim side calls that never happened there.
        if not raw.strip() or b'"type":"cost-state"' in raw:
            continue
        m = _TS_RE.search(raw)
        ts = _ts_ms(m.group(1)) if m else last
        last = ts
        out.append(TLine(sub, raw, ts))
    return out


def _mark_groups(lines: list[TLine]) -> list[TLine]:
    """Flag assistant lines with their response group, its size and whether the line is the group's last."""
    ids: list[bytes | None] = []
    for ln in lines:
        mid = None
        if b'"type":"assistant"' in ln.raw:
            d = orjson.loads(ln.raw)
            if d.get("type") == "assistant" and isinstance(d.get("message"), dict):
                mid = d["message"].get("id", "").encode()
        ids.append(mid)
    sizes: dict[bytes, int] = {}
    lasts: dict[bytes, int] = {}
    for i, mid in enumerate(ids):
        if mid is not None:
            sizes[mid] = sizes.get(mid, 0) + 1
            lasts[mid] = i
    return [
        TLine(ln.sub, ln.raw, ln.ts_ms, True, mid, lasts[mid] == i, sizes[mid]) if mid is not None else ln
        for i, (ln, mid) in enumerate(zip(lines, ids, strict=True))
    ]


def load_templates(root: Path = FIXTURES) -> dict[str, list[Template]]:
    """Per version, one template per scenario session file (forks of `resume` excluded: we make our own)."""
    out: dict[str, list[Template]] = {}
    for version in VERSIONS:
        temps: list[Template] = []
        for scen_dir in sorted((root / version).iterdir()):
            proj = scen_dir / "projects"
            if not proj.is_dir():
                continue
            mains = sorted(p for p in proj.glob("*/*.jsonl"))
            if scen_dir.name == "resume":
                # The original has fewer distinct responses than the fork that copied it.
                def n_ids(p: Path) -> int:
                    return len(set(re.findall(rb'"id":"(msg_[0-9A-Za-z]+)"', p.read_bytes())))

                mains = [min(mains, key=n_ids)]
            for main in mains:
                lines = _read_lines(main, sub=False)
                meta = agent = None
                subs = sorted((main.parent / main.stem / "subagents").glob("agent-*.jsonl"))
                if subs:
                    sub_lines = _read_lines(subs[0], sub=True)
                    # Interleave by time, as the client wrote them; stable on file order.
                    both = lines + sub_lines
                    lines = sorted(both, key=lambda ln: ln.ts_ms or 0)
                    meta_path = subs[0].with_name(subs[0].stem + ".meta.json")
                    meta = meta_path.read_bytes() if meta_path.exists() else None
                    agent = subs[0].stem.removeprefix("agent-").encode()
                temps.append(Template(version, scen_dir.name, main.stem.encode(), _mark_groups(lines), meta, agent))
        out[version] = temps
    return out


class _Ids:
    """Seeded minting of ids shaped like the client's."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def uuid(self) -> bytes:
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}".encode()

    def b62(self, prefix: str, n: int = 24) -> bytes:
        return (prefix + "".join(self.rng.choice(_B62) for _ in range(n))).encode()

    def agent(self) -> bytes:
        return f"a{self.rng.getrandbits(64):016x}".encode()

    def mint(self, token: bytes) -> bytes:
        if token.startswith(b"msg_"):
            return self.b62("msg_01")
        if token.startswith(b"req_"):
            return self.b62("req_011C")
        if token.startswith(b"toolu_"):
            return self.b62("toolu_01")
        if len(token) == 17:
            return self.agent()
        return self.uuid()


@dataclass
class _Session:
    sid: bytes
    cwd: bytes
    project_dir: bytes
    version: str
    model: str
    clock: int  # ms since epoch
    day_end: int  # stop adding turns past this point so no response straddles midnight
    use_task: bool
    main_path: Path
    main: list[bytes] = field(default_factory=list)
    subs: dict[bytes, list[bytes]] = field(default_factory=dict)
    metas: dict[bytes, bytes] = field(default_factory=dict)
    bytes: int = 0


class CorpusBuilder:
    def __init__(self, out: Path, mb: float, sessions: int = 200, seed: int = 42, forks: int = 5):
        self.out = out
        self.projects = out / "projects"
        self.target = int(mb * 1_000_000)
        self.n_sessions = sessions
        self.n_forks = min(forks, max(0, sessions // 10))
        self.rng = random.Random(seed)
        self.ids = _Ids(self.rng)
        self.templates = load_templates()
        self.expected = Expected()
        self._seen: dict[tuple[str, str], tuple[str, int]] = {}  # key -> (date, largest output)
        self.files = 0
        self.total_bytes = 0
        self.subagent_files = 0

    # -- sessions ---------------------------------------------------------------------------------------

    def build(self) -> Expected:
        if self.out.exists():
            shutil.rmtree(self.out)
        self.projects.mkdir(parents=True)
        (self.out / STAMP).write_text("skill-insights bench corpus\n")
        regular = self.n_sessions - self.n_forks
        written: list[_Session] = []
        for i in range(regular):
            # The share of what is left: sessions overshoot by part of a turn, later ones make up for it.
            per = (self.target - self.total_bytes) / (self.n_sessions - i)
            version = self.rng.choice(VERSIONS)
            # 2.1.330 writes ~20x the bytes per turn; weight sizes so both versions get many sessions.
            weight = (1.6 if version == "2.1.330" else 0.4) * self.rng.uniform(0.5, 1.5)
            s = self._new_session(version)
            self._fill(s, int(per * weight))
            self._write(s)
            written.append(s)
        for _ in range(self.n_forks):
            parent = self.rng.choice([s for s in written if len(s.main) > 20] or written)
            s = self._fork(parent)
            self._fill(s, int(self.target / self.n_sessions * 0.3))
            self._write(s, mtime_floor=parent.main_path.stat().st_mtime + 1)
            written.append(s)
        return self.expected

    def _new_session(self, version: str) -> _Session:
        cwd = f"/home/dev/{self.rng.choice(PROJECTS)}".encode()
        project_dir = re.sub(rb"[^A-Za-z0-9]", b"-", cwd)
        sid = self.ids.uuid()
        day = DAY0 + timedelta(days=self.rng.randrange(DAYS))
        start = day + timedelta(seconds=self.rng.randrange(1800, 14 * 3600))
        model = self.rng.choices([m for m, _ in MODELS], [w for _, w in MODELS])[0]
        return _Session(
            sid,
            cwd,
            project_dir,
            version,
            model,
            int(start.timestamp() * 1000),
            int((day + timedelta(hours=23)).timestamp() * 1000),
            self.rng.random() < 0.5,
            self.projects / project_dir.decode() / f"{sid.decode()}.jsonl",
        )

    def _fork(self, parent: _Session) -> _Session:
        """`--fork-session`: the first lines of the parent copied verbatim but for sessionId, then new turns."""
        sid = self.ids.uuid()
        s = _Session(
            sid,
            parent.cwd,
            parent.project_dir,
            parent.version,
            parent.model,
            0,
            parent.day_end,
            parent.use_task,
            self.projects / parent.project_dir.decode() / f"{sid.decode()}.jsonl",
        )
        k = int(len(parent.main) * self.rng.uniform(0.4, 0.8))
        for raw in parent.main[:k]:
            line = raw.replace(parent.sid, sid)
            s.main.append(line)
            s.bytes += len(line) + 1
            self._account(line)
            m = _TS_RE.search(line)
            if m:
                s.clock = _ts_ms(m.group(1))
        s.clock += self.rng.randrange(60_000, 900_000)
        return s

    def _fill(self, s: _Session, target: int) -> None:
        temps = self.templates[s.version]
        names = [n for n, _ in SCENARIOS]
        weights = [w for _, w in SCENARIOS]
        first = True
        while (first or s.bytes < target) and s.clock < s.day_end:
            scen = self.rng.choices(names, weights)[0]
            cands = [t for t in temps if t.scenario == scen]
            if not cands:
                continue
            self._turn(s, self.rng.choice(cands))
            s.clock += (
                self.rng.randrange(20_000, 480_000)
                if self.rng.random() > 0.05
                else self.rng.randrange(660_000, 2_400_000)
            )
            first = False

    def _turn(self, s: _Session, t: Template) -> None:
        rng = self.rng
        mapping: dict[bytes, bytes] = {t.session_id: s.sid}
        swaps: list[tuple[bytes, bytes]] = [
            (TEMPLATE_CWD, s.cwd),
            (TEMPLATE_PROJECT_DIR, s.project_dir),
            (b"demo-skill", rng.choice(SKILLS)),
            (b"mcp__demo__echo", rng.choice(MCP_TOOLS)),
        ]
        if s.use_task and t.version == "2.1.197":
            swaps.append((b'"name":"Agent"', b'"name":"Task"'))
        flip_error = rng.random() < 0.15
        model = s.model if rng.random() > 0.1 else "claude-haiku-4-5"
        usages: dict[bytes, tuple[Usage, bool]] = {}
        prev_ts: int | None = None
        agent_new = None
        for ln in t.lines:
            raw = ln.raw
            for a, b in swaps:
                if a in raw:
                    raw = raw.replace(a, b)
            if flip_error and not ln.assistant and b'"is_error":false' in raw:
                raw = raw.replace(b'"is_error":false', b'"is_error":true')
            # The clock follows the template's pacing, plus model "think time" before each response.
            if ln.ts_ms is not None:
                if prev_ts is not None:
                    s.clock += max(0, min(ln.ts_ms - prev_ts, 120_000))
                prev_ts = ln.ts_ms
            if ln.assistant and ln.group is not None and ln.group not in usages:
                s.clock += rng.randrange(1_000, 20_000)
            ts = _fmt_ts(s.clock)

            def sub(m: re.Match[bytes]) -> bytes:
                tok = m.group(0)
                if tok[0:1].isdigit() and tok.endswith(b"Z"):
                    return ts  # noqa: B023 - evaluated within this iteration
                new = mapping.get(tok)
                if new is None:
                    new = mapping[tok] = self.ids.mint(tok)
                return new

            raw = _TOKEN_RE.sub(sub, raw)
            if ln.assistant:
                raw = self._assistant(raw, ln, model, usages)
            if ln.sub:
                if agent_new is None:
                    # Normally minted already by the regex pass (the lines carry `agentId`).
                    key = t.agent_id or b"agent"
                    agent_new = mapping.get(key) or mapping.setdefault(key, self.ids.agent())
                s.subs.setdefault(agent_new, []).append(raw)
            else:
                s.main.append(raw)
            s.bytes += len(raw) + 1
            self._account(raw)
        if agent_new is not None and t.meta is not None:
            meta = _TOKEN_RE.sub(lambda m: mapping.get(m.group(0), m.group(0)), t.meta)
            s.metas[agent_new] = meta

    def _assistant(self, raw: bytes, ln: TLine, model: str, usages: dict[bytes, tuple[Usage, bool]]) -> bytes:
        d = orjson.loads(raw)
        msg = d["message"]
        if msg.get("model") == "<synthetic>" or d.get("isApiErrorMessage"):
            return raw  # the real client writes zero usage on API errors: keep it verbatim
        rng = self.rng
        assert ln.group is not None
        if ln.group not in usages:
            big = rng.random() < 0.05
            u = Usage(
                input_tokens=rng.randrange(1, 60) if rng.random() > 0.1 else rng.randrange(100, 8000),
                output_tokens=rng.randrange(5, 3000) if not big else rng.randrange(3000, 32000),
                cache_creation_input_tokens=rng.randrange(0, 30000),
                cache_read_input_tokens=rng.randrange(0, 180_000) if not big else rng.randrange(150_000, 400_000),
            )
            partial = ln.group_size > 1 and rng.random() < PARTIAL_GROUP_RATE
            usages[ln.group] = (u, partial)
        u, partial = usages[ln.group]
        out_tokens = u.output_tokens if (ln.last_in_group or not partial) else rng.randrange(1, 5)
        msg["model"] = model
        if "requestedModel" in d:
            d["requestedModel"] = model
        usage = msg.get("usage") or {}
        one_h = u.cache_creation_input_tokens if rng.random() < 0.1 else 0
        usage.update(
            input_tokens=u.input_tokens,
            output_tokens=out_tokens,
            cache_creation_input_tokens=u.cache_creation_input_tokens,
            cache_read_input_tokens=u.cache_read_input_tokens,
            cache_creation={
                "ephemeral_1h_input_tokens": one_h,
                "ephemeral_5m_input_tokens": u.cache_creation_input_tokens - one_h,
            },
        )
        msg["usage"] = usage
        return orjson.dumps(d)

    # -- bookkeeping ------------------------------------------------------------------------------------

    def _account(self, raw: bytes) -> None:
        """The generator's own tally (cross-checked against `count_corpus`, which reads the files)."""
        e = self.expected
        e.lines += 1
        if b'"type":"assistant"' not in raw:
            return
        _observe(e, orjson.loads(raw), self._seen)

    def _write(self, s: _Session, mtime_floor: float = 0.0) -> None:
        s.main_path.parent.mkdir(parents=True, exist_ok=True)
        last = max(s.clock, int(mtime_floor * 1000)) / 1000
        for agent, lines in s.subs.items():
            d = s.main_path.parent / s.sid.decode() / "subagents"
            d.mkdir(parents=True, exist_ok=True)
            p = d / f"agent-{agent.decode()}.jsonl"
            self._dump(p, lines, last)
            self.subagent_files += 1
            if agent in s.metas:
                (d / f"agent-{agent.decode()}.meta.json").write_bytes(s.metas[agent])
        self._dump(s.main_path, s.main, last)

    def _dump(self, path: Path, lines: list[bytes], mtime: float) -> None:
        data = b"\n".join(lines) + b"\n"
        path.write_bytes(data)
        os.utime(path, (mtime, mtime))
        self.files += 1
        self.total_bytes += len(data)


def _observe(e: Expected, d: dict, seen: dict[tuple[str, str], tuple[str, int]]) -> None:
    """One assistant line into the per-day tallies: once per (message.id, requestId), largest output kept."""
    if d.get("type") != "assistant":
        return
    msg = d.get("message")
    if not isinstance(msg, dict):
        return
    e.assistant_lines += 1
    if msg.get("model") == "<synthetic>" or d.get("isApiErrorMessage"):
        e.synthetic_lines += 1
        return
    u = msg.get("usage") or {}
    vals = [
        int(u.get(k) or 0)
        for k in ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    ]
    key = (str(msg.get("id")), str(d.get("requestId")))
    prev = seen.get(key)
    if prev is None:
        date = str(d["timestamp"])[:10]  # timestamps are UTC ("Z"); the benchmark runs everything with TZ=UTC
        seen[key] = (date, vals[1])
        e.responses += 1
        for book in (e.largest, e.first_seen):
            row = book.setdefault(date, [0, 0, 0, 0])
            for i in range(4):
                row[i] += vals[i]
        return
    e.duplicate_lines += 1
    date, best = prev
    if vals[1] > best:
        e.partial_groups += 1
        seen[key] = (date, vals[1])
        e.largest[date][1] += vals[1] - best


def iter_transcripts(root: Path) -> Iterator[Path]:
    """Every transcript under root, sorted by mtime then path (originals before their forks)."""
    paths = list(root.rglob("*.jsonl"))
    paths.sort(key=lambda p: (p.stat().st_mtime, str(p)))
    return iter(paths)


def count_corpus(root: Path) -> Expected:
    """Read the files back and tally them independently of the generator and of skill_insights."""
    e = Expected()
    seen: dict[tuple[str, str], tuple[str, int]] = {}
    for path in iter_transcripts(root):
        with open(path, "rb") as fh:
            for raw in fh:
                e.lines += 1
                if b'"type":"assistant"' in raw:
                    _observe(e, orjson.loads(raw), seen)
    return e


def main(argv: list[str] | None = None) -> int:
    """Build a corpus and write its independent count as JSON (run as a child so the benchmark stays small)."""
    import argparse
    import json

    ap = argparse.ArgumentParser(description="Build the benchmark corpus and count it.")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--mb", type=float, default=200.0)
    ap.add_argument("--sessions", type=int, default=200)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--summary", type=Path, required=True)
    args = ap.parse_args(argv)
    builder = CorpusBuilder(args.out, args.mb, sessions=args.sessions, seed=args.seed)
    gen = builder.build()
    got = count_corpus(args.out / "projects")
    if got.largest != gen.largest or got.first_seen != gen.first_seen or got.responses != gen.responses:
        raise SystemExit("the corpus reader and the generator disagree: bug in bench/_corpus.py")
    doc = {
        "bytes": builder.total_bytes,
        "files": builder.files,
        "subagent_files": builder.subagent_files,
        **{
            k: getattr(got, k)
            for k in (
                "responses",
                "lines",
                "assistant_lines",
                "synthetic_lines",
                "duplicate_lines",
                "partial_groups",
                "largest",
                "first_seen",
            )
        },
    }
    args.summary.write_text(json.dumps(doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
