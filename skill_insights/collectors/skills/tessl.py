"""Tessl manifests (`tessl.json`, `tile.json`, `.tessl-plugin/plugin.json`) and Claude plugin manifests as
inventory records, plus registry signals for tiles fetched over HTTP.

Registry: `GET {base}/v1/tiles/{workspace}/{tile}`. The base URL comes from `SKILL_INSIGHTS_TESSL_REGISTRY_URL`,
else `tessl_registry_url` in the config file. With neither, no request is made (remote services are off unless
configured) and every signal is `unknown`. Answers are cached on disk; a failed or slow registry makes every
signal `unknown` (after one short timeout, not one per tile) and the scan goes on.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from skill_insights.outputs import write_atomic
from skill_insights.settings import read_config

ENV_REGISTRY_URL = "SKILL_INSIGHTS_TESSL_REGISTRY_URL"
CACHE_TTL_SECONDS = 24 * 3600
NEGATIVE_TTL_SECONDS = 15 * 60  # a registry that was down is not asked again for a while
TIMEOUT_SECONDS = 3.0
_TILE_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")


def _str(v: Any) -> str | None:
    return v if isinstance(v, str) and v else None


def manifest_record(kind: str, path: str, data: dict[str, Any], scope: str) -> dict[str, Any]:
    """The inventory's view of one manifest: the fields later phases need, JSON-safe and bounded."""
    rec: dict[str, Any] = {"kind": kind, "path": path, "scope": scope, "name": _str(data.get("name")),
                           "version": _str(data.get("version"))}
    if kind == "tessl.json":
        deps = data.get("dependencies")
        rec["mode"] = _str(data.get("mode"))
        rec["dependencies"] = {
            k: {"version": _str(v.get("version")) if isinstance(v, dict) else _str(v)}
            for k, v in (deps.items() if isinstance(deps, dict) else [])
            if isinstance(k, str)
        }
    elif kind in ("tile.json", "tessl-plugin"):
        rec["summary"] = _str(data.get("summary")) or _str(data.get("description"))
        skills = data.get("skills")
        if isinstance(skills, dict):
            rec["skills"] = {k: _str(v.get("path")) if isinstance(v, dict) else _str(v) for k, v in skills.items()
                             if isinstance(k, str)}
        elif isinstance(skills, list):  # plugin.json style: a list of paths
            rec["skills"] = {os.path.basename(str(v).rstrip("/")): str(v) for v in skills if isinstance(v, str)}
        else:
            rec["skills"] = {}
        rec["docs"] = _str(data.get("docs"))
        steering = data.get("steering")
        rec["steering"] = sorted(k for k in steering if isinstance(k, str)) if isinstance(steering, dict) else []
        if isinstance(data.get("private"), bool):
            rec["private"] = data["private"]
    elif kind == "claude-marketplace":
        plugins = []
        for p in data.get("plugins") or []:
            if not isinstance(p, dict) or not _str(p.get("name")):
                continue
            plugins.append({"name": p["name"], "source": p["source"] if isinstance(p.get("source"), str) else None,
                            "version": _str(p.get("version")),
                            "skills": [s for s in p.get("skills") or [] if isinstance(s, str)]})
        rec["plugins"] = plugins
    elif kind == "claude-plugin":
        rec["description"] = _str(data.get("description"))
    return rec


# -- versions ---------------------------------------------------------------------------------------------


def _version_key(v: str) -> tuple[tuple[int, ...], int, str] | None:
    m = re.match(r"^v?(\d+(?:\.\d+)*)(?:-([0-9A-Za-z.-]+))?(?:\+.*)?$", v.strip())
    if not m:
        return None
    nums = tuple(int(x) for x in m.group(1).split("."))
    nums = nums + (0,) * (3 - len(nums)) if len(nums) < 3 else nums
    pre = m.group(2)
    return nums, 0 if pre else 1, pre or ""  # a pre-release sorts before its release


def is_behind(installed: str | None, latest: str | None) -> bool | None:
    """True/False when both versions parse, None (unknown) otherwise."""
    if not installed or not latest:
        return None
    a, b = _version_key(installed), _version_key(latest)
    if a is None or b is None:
        return None
    return a < b


# -- registry client ----------------------------------------------------------------------------------------


def registry_base_url(config_file: Path | None = None) -> str | None:
    """The configured base URL, or None: there is no default, a scan contacts no registry unless told to."""
    env = os.environ.get(ENV_REGISTRY_URL)
    if env:
        return env.rstrip("/")
    if config_file is not None:
        url = read_config(config_file).get("tessl_registry_url")
        if isinstance(url, str) and url:
            return url.rstrip("/")
    return None


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _pick(d: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        if k in d and d[k] not in (None, ""):
            return d[k]
    return None


def parse_tile_answer(doc: Any) -> dict[str, Any]:
    """Latest version and last update from a tile document, tolerant of envelope and key spelling."""
    if isinstance(doc, dict):
        for env in ("data", "tile"):
            if isinstance(doc.get(env), dict):
                doc = doc[env]
                break
        if isinstance(doc.get("attributes"), dict):  # JSON:API style
            doc = {**doc, **doc["attributes"]}
    if not isinstance(doc, dict):
        return {}
    latest = _pick(doc, "latestVersion", "latest_version", "version")
    if isinstance(latest, dict):
        latest = _pick(latest, "version", "name")
    updated = _pick(doc, "updatedAt", "updated_at", "lastUpdated", "last_updated", "publishedAt", "published_at")
    versions = doc.get("versions")
    if latest is None and isinstance(versions, list) and versions:
        keyed = [(k, v) for v in versions
                 if (s := v if isinstance(v, str) else _pick(v, "version") if isinstance(v, dict) else None)
                 and (k := _version_key(str(s)))]
        if keyed:
            latest_v = max(keyed, key=lambda kv: kv[0])[1]
            latest = latest_v if isinstance(latest_v, str) else _pick(latest_v, "version")
    return {"latest_version": str(latest) if latest is not None else None,
            "updated_at": str(updated) if updated is not None else None}


class TesslRegistry:
    """Tile signals with an on-disk cache; one failure switches the client to offline for the rest of a scan."""

    def __init__(self, base_url: str | None, cache_dir: Path | None, timeout: float = TIMEOUT_SECONDS,
                 enabled: bool = True) -> None:
        self.base_url = (base_url or "").rstrip("/")
        self.cache_dir = cache_dir / "registry" / "tessl" if cache_dir else None
        self.timeout = timeout
        self.enabled = enabled and bool(self.base_url)  # no base URL configured: never ask anyone
        self.offline = False
        self._client: Any = None
        self._memo: dict[str, dict[str, Any]] = {}

    def _cache_path(self, name: str) -> Path | None:
        if self.cache_dir is None:
            return None
        key = re.sub(r"[^\w.-]", "_", f"{self.base_url}|{name}")[-200:]
        return self.cache_dir / f"{key}.json"

    def _cached(self, name: str) -> dict[str, Any] | None:
        p = self._cache_path(name)
        if p is None or not p.is_file():
            return None
        try:
            doc = json.loads(p.read_text())
            ttl = CACHE_TTL_SECONDS if doc.get("status") in ("ok", "not_found") else NEGATIVE_TTL_SECONDS
            if time.time() - float(doc["fetched"]) <= ttl:
                return doc["signals"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return None

    def _store(self, name: str, signals: dict[str, Any]) -> None:
        p = self._cache_path(name)
        if p is None:
            return
        doc = {"fetched": time.time(), "status": signals["status"], "signals": signals}
        with contextlib.suppress(OSError):  # a read-only cache only costs a re-fetch
            write_atomic(p, json.dumps(doc).encode())

    def signals(self, name: str) -> dict[str, Any]:
        """{status: ok|not_found|unknown|error|invalid_name, latest_version, updated_at, checked_at, source}"""
        if name in self._memo:
            return self._memo[name]
        base: dict[str, Any] = {"status": "unknown", "latest_version": None, "updated_at": None, "checked_at": None}
        if self.base_url:
            base["source"] = self.base_url
        if not _TILE_NAME.match(name):
            out = {**base, "status": "invalid_name"}
        elif not self.enabled:
            out = base
        elif (hit := self._cached(name)) is not None:
            out = hit
        elif self.offline:
            out = base
        else:
            out = self._fetch(name, base)
            if out["status"] != "unknown" or self.offline:
                self._store(name, out)
        self._memo[name] = out
        return out

    def _fetch(self, name: str, base: dict[str, Any]) -> dict[str, Any]:
        import httpx

        if self._client is None:
            self._client = httpx.Client(timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 2.0)),
                                        headers={"accept": "application/json"}, follow_redirects=True)
        ws, tile = name.split("/", 1)
        url = f"{self.base_url}/v1/tiles/{ws}/{tile}"
        try:
            resp = self._client.get(url)
        except httpx.HTTPError:
            self.offline = True  # down or unreachable: don't pay the timeout once per tile
            return base
        checked = _now_iso()
        if resp.status_code == 404:
            return {**base, "status": "not_found", "checked_at": checked}
        if resp.status_code >= 400:
            if resp.status_code >= 500:
                self.offline = True
            return {**base, "status": "error", "checked_at": checked, "http_status": resp.status_code}
        try:
            sig = parse_tile_answer(resp.json())
        except ValueError:
            return {**base, "status": "error", "checked_at": checked, "http_status": resp.status_code}
        return {**base, **sig, "status": "ok" if sig.get("latest_version") else "error", "checked_at": checked}

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def enrich(manifests: Iterable[dict[str, Any]], registry: TesslRegistry) -> None:
    """Add `registry` signals to each tile and each tessl.json dependency, in place."""
    for m in manifests:
        if m["kind"] in ("tile.json", "tessl-plugin") and m.get("name"):
            sig = registry.signals(m["name"])
            m["registry"] = {**sig, "behind": is_behind(m.get("version"), sig.get("latest_version"))}
        elif m["kind"] == "tessl.json":
            for dep, info in (m.get("dependencies") or {}).items():
                sig = registry.signals(dep)
                info["registry"] = {**sig, "behind": is_behind(info.get("version"), sig.get("latest_version"))}
