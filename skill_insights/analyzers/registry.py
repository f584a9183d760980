"""Registry search: maintained alternatives for skills the user maintains alone.

A skill is standalone when no location is in a tile or a plugin and `npx skills` did not install it (its lock
file `~/.agents/.skill-lock.json`). Each registry is an adapter with `search(query)`; answers are cached on
disk. With no registry configured, or the registry unreachable, every skill is `not checked` — never an error.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import time
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from skill_insights.analyzers.answers import Alternative, RegistryCacheEntry, ValidationError, alternatives_in
from skill_insights.analyzers.config import DEFAULT_CACHE_TTL_DAYS, DEFAULT_TIMEOUT
from skill_insights.analyzers.model import SkillView, finding, phase_output, skills_from_inventory
from skill_insights.collectors.skills.jsonfile import read_json
from skill_insights.outputs import write_atomic

PHASE = "registry"
_WORD_RE = re.compile(r"[a-z0-9]+")


class RegistryUnavailable(Exception):
    """The registry could not answer (offline, timeout, 5xx): the skill is not checked."""


class RegistryAdapter(Protocol):
    name: str

    def search(self, query: str) -> list[Alternative]: ...


class SkillsApiAdapter:
    """The skills search API: `GET {base}/api/search?q=<text>&limit=10` → {"skills": [{id, name, installs, source}]}."""

    name = "skills-api"

    def __init__(self, base_url: str, timeout: float = DEFAULT_TIMEOUT, client: httpx.Client | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.client = client or httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)))

    def search(self, query: str) -> list[Alternative]:
        url = f"{self.base_url}/api/search?q={quote(query)}&limit=10"
        try:
            resp = self.client.get(url, headers={"accept": "application/json"})
        except httpx.TimeoutException:
            raise RegistryUnavailable("timeout") from None
        except httpx.HTTPError as e:
            raise RegistryUnavailable(f"unreachable ({type(e).__name__})") from None
        if resp.status_code != 200:
            raise RegistryUnavailable(f"HTTP {resp.status_code}")
        try:
            return alternatives_in(resp.json())
        except (ValueError, ValidationError):  # not JSON, or not {skills: [...]}
            raise RegistryUnavailable("answer is not {skills: [...]}") from None


class DiskCache:
    """One JSON file per (adapter, query) under the cache dir; entries older than the TTL are refetched."""

    def __init__(self, root: Path, ttl_seconds: float, now: float) -> None:
        self.root, self.ttl, self.now = root, ttl_seconds, now

    def _path(self, adapter: str, query: str) -> Path:
        return self.root / adapter / (hashlib.sha256(query.encode()).hexdigest()[:32] + ".json")

    def get(self, adapter: str, query: str) -> list[Alternative] | None:
        """The cached results while fresh; None (ask again) when missing, stale or not what `put` writes."""
        try:
            # The scan's reader: non-blocking, regular files only, capped (a FIFO here can't hang the phase).
            entry = RegistryCacheEntry.model_validate(read_json(str(self._path(adapter, query))))
        except (OSError, ValueError):  # missing, unreadable, or not what `put` writes (ValidationError too)
            return None
        return None if self.now - entry.fetched_at > self.ttl else entry.results

    def put(self, adapter: str, query: str, results: list[Alternative]) -> None:
        entry = RegistryCacheEntry(query=query, fetched_at=self.now, results=results)
        with contextlib.suppress(OSError):  # a read-only cache only costs a refetch next time
            write_atomic(self._path(adapter, query), entry.model_dump_json().encode())


def lock_file_skills(home: Path) -> set[str]:
    """Skill names `npx skills` installed (its lock file); unreadable or absent → none."""
    try:
        doc = json.loads((home / ".agents" / ".skill-lock.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    skills = doc.get("skills") if isinstance(doc, dict) else None
    if isinstance(skills, dict):
        return {str(k).rsplit("/", 1)[-1] for k in skills}
    if isinstance(skills, list):
        return {str(s.get("name") if isinstance(s, dict) else s).rsplit("/", 1)[-1] for s in skills}
    return set()


def query_for(view: SkillView) -> str:
    return " ".join(_WORD_RE.findall(view.name.lower())) or view.name


def relevant(view: SkillView, alt: Alternative) -> bool:
    """An alternative worth a finding: its name shares most words with the skill's name."""
    a, b = set(_WORD_RE.findall(view.name.lower())), set(_WORD_RE.findall(alt.name.lower()))
    return bool(a and b) and len(a & b) / len(a | b) >= 0.5


def search_all(
    views: list[SkillView],
    adapters: list[RegistryAdapter],
    cache: DiskCache | None,
    installed_by_cli: set[str],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Pure over its adapters: per-skill records and findings."""
    records: list[dict[str, Any]] = []
    findings: list[dict[str, Any]] = []
    down: dict[str, str] = {}  # adapter → why; once a registry failed, the rest of the run skips it
    for v in views:
        rec: dict[str, Any] = {"skill": v.ref(), "standalone": v.standalone and v.name not in installed_by_cli}
        if not rec["standalone"]:
            rec.update(status="skipped", reason="installed from a tile, plugin or `npx skills`")
            records.append(rec)
            continue
        if not adapters:
            rec.update(status="not checked", reason="no registry configured")
            records.append(rec)
            continue
        q = query_for(v)
        results: list[dict[str, Any]] = []
        reasons: list[str] = []
        for ad in adapters:
            if ad.name in down:
                reasons.append(f"{ad.name}: {down[ad.name]}")
                continue
            alts = cache.get(ad.name, q) if cache else None
            if alts is None:
                try:
                    alts = ad.search(q)
                except RegistryUnavailable as e:
                    down[ad.name] = str(e)
                    reasons.append(f"{ad.name}: {e}")
                    continue
                if cache:
                    cache.put(ad.name, q, alts)
            results.extend({"registry": ad.name, **a.model_dump()} for a in alts)
        if reasons and not results and len(reasons) == len(adapters):
            rec.update(status="not checked", reason="; ".join(reasons))
            records.append(rec)
            continue
        rec.update(status="checked", query=q, alternatives=results[:10])
        if reasons:
            rec["reason"] = "; ".join(reasons)
        records.append(rec)
        good = [r for r in results if relevant(v, Alternative.model_validate(r))]
        if good:
            good.sort(key=lambda r: -(r["installs"] or 0))
            top = good[0]
            findings.append(
                finding(
                    v,
                    "registry.alternative",
                    "info",
                    f"{len(good)} published alternative(s), e.g. {top['name']} from {top['source'] or top['registry']}"
                    + (f" ({top['installs']} installs)" if top["installs"] is not None else ""),
                    "Compare with the published skill; installing a maintained one saves keeping this copy up to date.",
                    {"alternatives": good[:5], "query": q},
                )
            )
    return records, findings


def adapters_from_options(options: dict[str, Any]) -> list[RegistryAdapter]:
    reg = options.get("registry") or {}
    out: list[RegistryAdapter] = []
    if reg.get("skills_api_url"):
        out.append(SkillsApiAdapter(reg["skills_api_url"], timeout=float(reg.get("timeout") or DEFAULT_TIMEOUT)))
    return out


def run(inventory: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    views = skills_from_inventory(inventory)
    reg = options.get("registry") or {}
    now = float(options.get("now") or time.time())
    cache = None
    if options.get("cache_dir"):
        ttl_days = float(reg.get("cache_ttl_days") or DEFAULT_CACHE_TTL_DAYS)
        cache = DiskCache(Path(options["cache_dir"]) / "registry", ttl_days * 86_400, now)
    installed = lock_file_skills(Path(options.get("home") or Path.home()))
    records, findings = search_all(views, adapters_from_options(options), cache, installed)
    counts: dict[str, int] = {}
    for r in records:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    return phase_output(
        PHASE,
        "skills",
        records,
        findings,
        len(records),
        checked=counts.get("checked", 0),
        not_checked=counts.get("not checked", 0),
        skipped=counts.get("skipped", 0),
    )
