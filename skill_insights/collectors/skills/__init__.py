"""Skills inventory: discover every skill folder, read each once, collapse vendored copies by content hash,
and assemble the one inventory document (`schemas/inventory.schema.json`).

`scan()` is the entry point; it touches the file system and (optionally) the Tessl registry, nothing else.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import logging
import os
import signal
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path
from typing import Any

import orjson

from skill_insights.collectors.skills.discover import Candidate, Discovery, discover
from skill_insights.collectors.skills.extras import scan_extras
from skill_insights.collectors.skills.skilldir import process_skill, shown, signature, within
from skill_insights.collectors.skills.tessl import TesslRegistry, enrich
from skill_insights.outputs import write_atomic
from skill_insights.processes import ChildFailed, Forked, can_fork, fork_child

_log = logging.getLogger(__name__)

SCHEMA_VERSION = "1.0"
POOL_THRESHOLD = 300  # below this many skills forking workers costs more than it saves
MAX_WORKERS = 8
CACHE_VERSION = 4  # bump when process_skill's output or the cache file changes shape or meaning
_SCOPE_ORDER = {"tile": 0, "plugin": 1, "user": 2, "project": 3}


def _work_share(items: list[tuple[str, list | None, str | None]]) -> bytes:
    """A forked worker's share of (realpath, listing, previous signature): [[realpath, result or None]],
    None where the previous result still holds (the parent has it: only what changed crosses the pipe).
    orjson, not pickle: much faster to decode."""
    out = []
    for real, listing, sig in items:
        out.append((real, None if sig and signature(real, listing) == sig else process_skill(real, listing)))
    return orjson.dumps(out)


def read_all(fd: int) -> bytes:
    """Everything a pipe's read end gives until the writer closes it."""
    parts = []
    while chunk := os.read(fd, 1 << 20):
        parts.append(chunk)
    return b"".join(parts)


def write_all(fd: int, data: bytes) -> None:
    """All of `data` to a pipe's write end, however short the single writes."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _fork_worker(share: list[tuple[str, list | None, str | None]]) -> tuple[int, int] | None:
    """Fork a child (`processes.fork_child`) that processes `share` and writes the result to a pipe:
    (pid, read fd), or None."""
    r, w = os.pipe()

    def child() -> None:
        os.close(r)
        write_all(w, _work_share(share))

    pid = fork_child(child)
    os.close(w)
    if pid is None:
        os.close(r)
        return None
    return pid, r


def worker_count(workers: int | None, n_items: int) -> int:
    """How many processes share the skills: `workers` when given, else every CPU this process may use for a
    job of POOL_THRESHOLD skills or more; 1 when forking is out (`can_fork`)."""
    if not can_fork():
        return 1
    if workers is None:
        if n_items < POOL_THRESHOLD:
            return 1
        try:
            workers = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            workers = os.cpu_count() or 1
    return max(1, min(workers, MAX_WORKERS, n_items // 50 or 1))


def _shares(items: list[Any], weights: list[float]) -> list[list[Any]]:
    """Interleaved runs of items, dealt by weight (smooth weighted round robin): each share gets neighbours
    (locality) and a fair mix of big and small skills."""
    run = max(8, min(64, len(items) // (len(weights) * 16)))
    shares: list[list[Any]] = [[] for _ in weights]
    credit = [0.0] * len(weights)
    total = sum(weights)
    for i in range(0, len(items), run):
        for j, w in enumerate(weights):
            credit[j] += w
        k = max(range(len(weights)), key=credit.__getitem__)
        credit[k] -= total
        shares[k].extend(items[i : i + run])
    return shares


def _process_all(
    jobs: dict[str, list | None], workers: int | None, prev: PreviousScan | None = None
) -> dict[str, dict[str, Any]]:
    """realpath → process_skill result; a previous result is reused when its files' stat signature still
    matches. Big jobs are shared with forked workers (reading, hashing and stat calls are mostly system
    time, which a second core halves). Workers need only the previous signatures, so they start at once
    while the parent decodes the previous results, then does a (smaller) share itself. A worker that fails
    leaves its share to the parent, so the result never depends on the fork."""
    prev = prev or PreviousScan(None)
    n = worker_count(workers, len(jobs))
    if n <= 1:
        cache = prev.results()
        return {real: process_skill(real, listing, cache.get(real)) for real, listing in jobs.items()}
    sigs = prev.sigs
    items = [(real, listing, sigs.get(real)) for real, listing in jobs.items()]
    # Decoding the previous results takes the parent about a fifth of a re-scan's checks: it checks fewer.
    shares = _shares(items, [0.6 if sigs else 1.0] + [1.0] * (n - 1))
    children: list[tuple[list, tuple[int, int] | None]] = []
    unreaped: dict[int, int | None] = {}  # pid → its pipe's read end, None once closed
    try:
        for share in shares[1:]:
            child = _fork_worker(share)
            children.append((share, child))
            if child is not None:
                unreaped[child[0]] = child[1]
        cache = prev.results()
        out = {real: process_skill(real, listing, cache.get(real)) for real, listing, _ in shares[0]}
        for share, child in children:
            got: list | None = None
            if child is not None:
                pid, fd = child
                try:
                    data = read_all(fd)
                finally:
                    os.close(fd)
                    unreaped[pid] = None
                _, status = os.waitpid(pid, 0)
                del unreaped[pid]
                if os.waitstatus_to_exitcode(status) == 0:
                    with contextlib.suppress(orjson.JSONDecodeError):
                        got = orjson.loads(data)
            if got is None or len(got) != len(share):  # the worker failed: its share is done here
                _log.warning("a scan worker failed; its %d skills are scanned again in this process", len(share))
                out.update((real, process_skill(real, listing, cache.get(real))) for real, listing, _ in share)
                continue
            for (real, res), (_, listing, _) in zip(got, share, strict=True):
                # None: the signature matched the previous result's (read afresh if that result is missing)
                out[real] = res if res is not None else cache.get(real) or process_skill(real, listing)
    except BaseException:  # interrupted: no worker is left blocked on a pipe nobody reads, or unreaped
        for pid, pipe in unreaped.items():
            if pipe is not None:
                with contextlib.suppress(OSError):
                    os.close(pipe)
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
        raise
    return out


class PreviousScan:
    """The previous scan's per-skill results (the stat-signature cache). The file holds two JSON lines: the
    signatures alone (realpath → sig), which is all a forked worker needs to tell what changed, then the
    results (realpath → result), which only the parent decodes — while the workers already check."""

    def __init__(self, path: Path | None) -> None:
        self.sigs: dict[str, str] = {}
        self._rest: bytes | None = None
        self._results: dict[str, dict[str, Any]] | None = None
        if path is None:
            return
        try:
            raw = path.read_bytes()
            head, _, self._rest = raw.partition(b"\n")
            meta = orjson.loads(head)
        except (OSError, orjson.JSONDecodeError):
            self._rest = None
            return
        if isinstance(meta, dict) and meta.get("version") == CACHE_VERSION and isinstance(meta.get("sigs"), dict):
            self.sigs = meta["sigs"]
        else:
            self._rest = None

    def results(self) -> dict[str, dict[str, Any]]:
        """realpath → previous result ({} when there is none or it can't be read); decoded once."""
        if self._results is None:
            try:
                doc = orjson.loads(self._rest) if self._rest else {}
            except orjson.JSONDecodeError:
                doc = {}
            self._results = doc if isinstance(doc, dict) else {}
            self._rest = None
        return self._results


def _same_results(results: dict[str, dict[str, Any]], cache: dict[str, dict[str, Any]]) -> bool:
    """True when every result is the cached one as loaded (nothing changed): the cache file needs no rewrite."""
    return len(results) == len(cache) and all(cache.get(k) is v for k, v in results.items())


def save_cache(path: Path, results: dict[str, dict[str, Any]]) -> None:
    sigs = {real: r["sig"] for real, r in results.items() if r.get("sig")}
    # orjson escapes newlines inside strings: the first newline ends the signature line
    data = orjson.dumps({"version": CACHE_VERSION, "sigs": sigs}) + b"\n" + orjson.dumps(results)
    with contextlib.suppress(OSError):  # no cache only makes the next scan slower
        write_atomic(path, data)


def _save_cache_meanwhile(
    path: Path, results: dict[str, dict[str, Any]], *, background: bool
) -> Callable[[], None] | None:
    """save_cache, in a forked child when `background` (a big scan's ~20 MB file is written while the skills
    are built): the returned call waits for that child. None when the cache was written here."""
    if not (background and can_fork()):
        save_cache(path, results)
        return None
    child = Forked(save_cache, path, results)

    def wait() -> None:
        try:
            child.result()
        except ChildFailed:  # no child could start, or it died: written here instead
            save_cache(path, results)

    return wait


def _longest_root(real: str, roots: dict[str, dict[str, Any]], key: str = "realpath") -> dict[str, Any] | None:
    best: dict[str, Any] | None = None
    for info in roots.values():
        r = info.get(key) or info.get("root")
        if r and within(real, r) and (best is None or len(r) > len(best.get(key) or best["root"])):
            best = info
    return best


def _location(c: Candidate, d: Discovery, res: dict[str, Any]) -> dict[str, Any]:
    ctx = c.ctx
    loc: dict[str, Any] = {
        "path": c.path,
        "realpath": c.realpath,
        "agent": ctx.agent or ("tessl" if ctx.scope == "tile" else "unknown"),
        "scope": ctx.scope,
        "is_link": c.is_link,
        "dir_name": os.path.basename(c.path.rstrip(os.sep)),
        "installed": True,
    }
    if c.is_link:
        try:
            loc["link_target"] = shown(os.readlink(c.path))  # a target named in other bytes than UTF-8
        except OSError:
            loc["link_target"] = c.realpath  # a link further up the path
    if ctx.project_root:
        loc["project_root"] = ctx.project_root
    # Provenance: a tile by where the walk found it, or by where a link (tessl__x) really points.
    tile = d.tiles.get(ctx.tile) if ctx.tile else _longest_root(c.realpath, d.tiles)
    if tile is not None:
        loc["tile"] = {k: tile.get(k) for k in ("name", "workspace", "tile", "version", "manifest")}
    plugin = d.plugins.get(ctx.plugin) if ctx.plugin else None
    if plugin is None and ctx.scope == "plugin":
        plugin = _longest_root(c.path, d.plugins, "root")
    if plugin is not None:
        loc["plugin"] = {k: plugin.get(k) for k in ("name", "marketplace", "version")}
        ip = d.installed_plugins
        if ip is not None:
            key = f"{plugin.get('name')}@{plugin.get('marketplace')}"
            root_real = os.path.realpath(plugin.get("root") or c.path)
            if ctx.layout == "cache" or "/plugins/cache/" in c.path.replace(os.sep, "/"):
                # Cached versions stay on disk after an update: only the recorded installPath is live.
                loc["installed"] = root_real in ip["paths"] or (key in ip["keys"] and not ip["paths"])
            else:
                loc["installed"] = key in ip["keys"]
        elif ctx.scope == "plugin":
            loc["installed"] = None  # no installed_plugins.json: can't tell
        loc["plugin"]["installed"] = loc["installed"]
    name = res.get("name") or loc["dir_name"]
    names = {name, loc["dir_name"]}
    if plugin is not None:
        names = {f"{plugin['name']}:{n}" for n in names}
    loc["names"] = sorted(names)
    return loc


def _loc_sort_key(loc: dict[str, Any]) -> tuple[Any, ...]:
    return (loc["is_link"], _SCOPE_ORDER.get(loc["scope"], 9), loc["path"])


def build_skills(d: Discovery, results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Collapse locations by content hash into canonical skills."""
    groups: dict[str, list[tuple[Candidate, dict[str, Any]]]] = {}
    for c in d.candidates.values():
        res = results.get(c.realpath)
        if res is not None:
            groups.setdefault(res["content_hash"], []).append((c, res))
    skills: list[dict[str, Any]] = []
    size_of = itemgetter("size")
    for chash, members in groups.items():
        if len(members) == 1:  # the usual case: one location, nothing to order or merge
            locs = [_location(members[0][0], d, members[0][1])]
        else:
            locs = sorted((_location(c, d, r) for c, r in members), key=_loc_sort_key)
        canon = locs[0]
        res = results[canon["realpath"]]
        # The same real folder reached twice (a link and its target) yields the same findings once.
        findings: list[dict[str, Any]] = []
        seen: set[str] = set()
        for _, r in members:
            if r["realpath"] in seen or not r["findings"]:
                continue
            seen.add(r["realpath"])
            for f in r["findings"]:
                if f not in findings:
                    findings.append(f)
        skill = {
            "id": "sk_" + hashlib.sha256(canon["realpath"].encode()).hexdigest()[:16],
            "name": res.get("name") or canon["dir_name"],
            "description": res.get("description"),
            "content_hash": chash,
            "names": sorted({n for loc in locs for n in loc["names"]}),
            "locations": locs,
            "files": res["files"],
            "findings": findings,
            "frontmatter": res.get("frontmatter"),
            "extra_fields": res.get("extra_fields", []),
            "body_lines": res.get("body_lines", 0),
            "approx_tokens": res.get("approx_tokens", 0),
            "size_bytes": sum(map(size_of, res["files"])),
            "links": res.get("links", []),
        }
        skills.append(skill)
    skills.sort(key=lambda s: (s["name"], s["id"]))
    return skills


def scan(
    roots: list[Path] | None = None,
    *,
    agent_dirs: bool = True,
    project_dirs: list[Path] | None = None,
    registry: TesslRegistry | None = None,
    workers: int | None = None,
    home: Path | None = None,
    claude_dir: Path | None = None,
    cache_file: Path | None = None,
    now: Callable[[], datetime] | None = None,
) -> dict[str, Any]:
    """The inventory document for every skill found. Never raises on a hostile or broken file tree."""
    with paused_gc():
        return _scan(
            roots,
            agent_dirs=agent_dirs,
            project_dirs=project_dirs,
            registry=registry,
            workers=workers,
            home=home,
            claude_dir=claude_dir,
            cache_file=cache_file,
            now=now,
        )


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection while a scan builds its ~10 objects per file: the collector would walk
    them over and over (a fifth of a big scan's time) to find no cycles — the inventory holds none.

    On the way out everything made meanwhile moves to the oldest generation (freeze + unfreeze: two list
    splices, no traversal); left in the youngest, the first allocation after re-enabling would walk all of
    it, a visible share of a large scan. Skipped when someone else keeps objects frozen: unfreeze would free theirs."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            if gc.get_freeze_count() == 0:
                gc.freeze()
                gc.unfreeze()
            gc.enable()


def _scan(
    roots: list[Path] | None,
    *,
    agent_dirs: bool,
    project_dirs: list[Path] | None,
    registry: TesslRegistry | None,
    workers: int | None,
    home: Path | None,
    claude_dir: Path | None,
    cache_file: Path | None,
    now: Callable[[], datetime] | None,
) -> dict[str, Any]:
    started = (now or (lambda: datetime.now(UTC)))()
    d = discover(
        [Path(r) for r in roots or []],
        agent_dirs=agent_dirs,
        project_dirs=project_dirs,
        home=home,
        claude_dir=claude_dir,
    )
    prev = PreviousScan(cache_file)
    jobs = {c.realpath: c.listing for c in d.candidates.values()}
    results = _process_all(jobs, workers, prev)
    # Skills nested inside a skill folder come back as their own jobs, keeping the outer folder's context.
    pending = [(c, r) for c in list(d.candidates.values()) for r in [results[c.realpath]] if r["nested"]]
    while pending:
        new: dict[str, list | None] = {}
        for c, r in pending:
            for real in r["nested"]:
                rel = os.path.relpath(real, c.realpath)
                path = os.path.join(c.path, rel)
                if path not in d.candidates:
                    d.candidates[path] = Candidate(path, real, c.is_link, c.ctx)
                    if real not in results:
                        new[real] = None
        more = _process_all(new, workers, prev)
        results.update(more)
        pending = [
            (d.candidates[p], more[c.realpath])
            for p, c in list(d.candidates.items())
            if c.realpath in more and more[c.realpath]["nested"]
        ]
    cache_written = None
    if cache_file is not None and not _same_results(results, prev.results()):
        cache_written = _save_cache_meanwhile(cache_file, results, background=len(results) >= POOL_THRESHOLD)
    try:
        skills = build_skills(d, results)
        manifests = sorted(d.manifests.values(), key=lambda m: m["path"])
        _attach_skills_to_manifests(manifests, skills)
        if registry is not None:
            enrich(manifests, registry)
    finally:
        if cache_written is not None:
            cache_written()
    # A root given to the scan is a project too: its .claude/agents, .claude/commands and .mcp.json count.
    extra_projects = list(dict.fromkeys([*(project_dirs or []), *(Path(r) for r in roots or [])]))
    extras = scan_extras(d, agent_dirs=agent_dirs, project_dirs=extra_projects, home=home, claude_dir=claude_dir)
    finished = datetime.now(UTC)
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": started.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "duration_seconds": round((finished - started).total_seconds(), 3),
        "roots": d.roots,
        "skills": skills,
        "manifests": manifests,
        "agents": extras["agents"],
        "commands": extras["commands"],
        "mcp_servers": extras["mcp_servers"],
        "findings": d.findings + extras["findings"],
        "stats": {
            "skills": len(skills),
            "locations": sum(len(s["locations"]) for s in skills),
            "files": sum(len(s["files"]) for s in skills),
            "manifests": len(manifests),
            "agents": len(extras["agents"]),
            "commands": len(extras["commands"]),
            "mcp_servers": len(extras["mcp_servers"]),
        },
    }


def _attach_skills_to_manifests(manifests: list[dict[str, Any]], skills: list[dict[str, Any]]) -> None:
    """Each tile / plugin manifest lists the ids of the skills found inside its folder."""
    by_root: dict[str, dict[str, Any]] = {}
    for m in manifests:
        if m["kind"] == "tile.json":
            by_root[os.path.dirname(m["path"])] = m
        elif m["kind"] in ("tessl-plugin", "claude-plugin"):  # <root>/.x-plugin/plugin.json
            by_root[os.path.dirname(os.path.dirname(m["path"]))] = m
    if not by_root:
        return
    for s in skills:
        for loc in s["locations"]:
            for root, m in by_root.items():
                if within(loc["path"], root):
                    ids = m.setdefault("skill_ids", [])
                    if s["id"] not in ids:
                        ids.append(s["id"])


__all__ = ["SCHEMA_VERSION", "TesslRegistry", "build_skills", "scan"]
