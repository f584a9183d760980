"""Registry signals for Tessl tiles fetched over HTTP (the manifests naming the tiles are read in `manifests`).

Registry: `GET {base}/v1/tiles/{workspace}/{tile}`. The base URL comes from `SKILL_INSIGHTS_TESSL_REGISTRY_URL`,
else `tessl_registry_url` in the config file. With neither, no request is made (remote services are off unless
configured) and every signal is `unknown`. Answers are cached on disk; a failed or slow registry makes every
signal `unknown` (after one short timeout, not one per tile) and the scan goes on.

Nothing read here is trusted: a registry answer is read up to MAX_MANIFEST_BYTES within a deadline and only
its well-typed fields kept; a cache file that is not what `_store` writes is ignored (the tile is asked again).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from skill_insights.collectors.skills.jsonfile import MAX_MANIFEST_BYTES, read_json
from skill_insights.outputs import write_atomic
from skill_insights.settings import read_config

ENV_REGISTRY_URL = "SKILL_INSIGHTS_TESSL_REGISTRY_URL"
CACHE_TTL_SECONDS = 24 * 3600
NEGATIVE_TTL_SECONDS = 15 * 60  # a registry that was down is not asked again for a while
TIMEOUT_SECONDS = 3.0
_TILE_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")


# -- versions ---------------------------------------------------------------------------------------------


MAX_VERSION_CHARS = 100  # longer is no version: and int() refuses over 4300 digits


def _version_key(v: str) -> tuple[tuple[int, ...], int, str] | None:
    if len(v) > MAX_VERSION_CHARS:
        return None
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


def _answer_text(v: Any) -> str | None:
    """A registry answer's version or date: a string (or a plain number) of sane length whose text the
    inventory's JSON can hold; anything else is no answer."""
    if isinstance(v, int) and not isinstance(v, bool):
        v = str(v)
    if not isinstance(v, str) or not v or len(v) > MAX_VERSION_CHARS:
        return None
    try:
        v.encode("utf-8")  # a lone surrogate, from a JSON \udXXX escape
    except UnicodeEncodeError:
        return None
    return v


def parse_tile_answer(doc: Any) -> dict[str, Any]:
    """Latest version and last update from a tile document, tolerant of envelope and key spelling; any value
    of an unexpected type or size reads as absent."""
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
    latest = _answer_text(latest)
    updated = _answer_text(
        _pick(doc, "updatedAt", "updated_at", "lastUpdated", "last_updated", "publishedAt", "published_at")
    )
    versions = doc.get("versions")
    if latest is None and isinstance(versions, list) and versions:
        keyed = [
            (k, s)
            for v in versions
            if (s := _answer_text(v if isinstance(v, str) else _pick(v, "version") if isinstance(v, dict) else None))
            and (k := _version_key(s))
        ]
        if keyed:
            latest = max(keyed, key=lambda kv: kv[0])[1]
    return {"latest_version": latest, "updated_at": updated}


class TesslRegistry:
    """Tile signals with an on-disk cache; one failure switches the client to offline for the rest of a scan."""

    def __init__(
        self, base_url: str | None, cache_dir: Path | None, timeout: float = TIMEOUT_SECONDS, enabled: bool = True
    ) -> None:
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
        """The stored signals while fresh; None (ask again) when missing, stale, or not what `_store` writes."""
        p = self._cache_path(name)
        if p is None:
            return None
        try:
            doc = read_json(str(p))  # non-blocking, regular files only, capped: a FIFO here can't hang a scan
        except (OSError, ValueError):
            return None
        if not isinstance(doc, dict):
            return None
        fetched = doc.get("fetched")
        signals = _cached_signals(doc.get("signals"))
        if (
            signals is None
            or not isinstance(fetched, (int, float))
            or isinstance(fetched, bool)
            or not math.isfinite(fetched)
        ):
            return None
        ttl = CACHE_TTL_SECONDS if signals["status"] in ("ok", "not_found") else NEGATIVE_TTL_SECONDS
        return signals if time.time() - fetched <= ttl else None

    def _store(self, name: str, signals: dict[str, Any]) -> None:
        p = self._cache_path(name)
        if p is None:
            return
        doc = {"fetched": time.time(), "signals": signals}
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
            self._client = httpx.Client(
                timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 2.0)),
                headers={"accept": "application/json"},
                follow_redirects=True,
            )
        ws, tile = name.split("/", 1)
        url = f"{self.base_url}/v1/tiles/{ws}/{tile}"
        body: bytes | None = None
        try:
            with self._client.stream("GET", url) as resp:
                code = resp.status_code
                if code < 400:
                    body = self._body(resp)
        except httpx.HTTPError:
            self.offline = True  # down, unreachable or too slow: don't pay the timeout once per tile
            return base
        checked = _now_iso()
        if code == 404:
            return {**base, "status": "not_found", "checked_at": checked}
        if code >= 400:
            if code >= 500:
                self.offline = True
            return {**base, "status": "error", "checked_at": checked, "http_status": code}
        try:
            if body is None:
                raise ValueError(f"over {MAX_MANIFEST_BYTES} bytes")
            sig = parse_tile_answer(json.loads(body))
        except (ValueError, RecursionError):  # too big, not UTF-8, not JSON, nested too deeply
            return {**base, "status": "error", "checked_at": checked, "http_status": code}
        return {**base, **sig, "status": "ok" if sig.get("latest_version") else "error", "checked_at": checked}

    def _body(self, resp: Any) -> bytes | None:
        """The answer's body, or None when over MAX_MANIFEST_BYTES (decompressed); a body still arriving after
        the timeout counts as a registry too slow to use (httpx's timeouts are per read, not per answer)."""
        import httpx

        deadline = time.monotonic() + self.timeout
        parts: list[bytes] = []
        total = 0
        for chunk in resp.iter_bytes():
            parts.append(chunk)
            total += len(chunk)
            if total > MAX_MANIFEST_BYTES:
                return None
            if time.monotonic() > deadline:
                raise httpx.ReadTimeout("answer too slow", request=resp.request)
        return b"".join(parts)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


_STATUSES = ("ok", "not_found", "unknown", "error", "invalid_name")


def _cached_signals(sig: Any) -> dict[str, Any] | None:
    """Signals as `_store` wrote them, rebuilt from their well-typed fields only; None when not that shape."""
    if not isinstance(sig, dict) or sig.get("status") not in _STATUSES:
        return None
    out: dict[str, Any] = {"status": sig["status"]}
    for key in ("latest_version", "updated_at", "checked_at"):
        v = sig.get(key)
        if v is not None and _answer_text(v) != v:
            return None
        out[key] = v
    source = sig.get("source")
    if source is not None:
        if not isinstance(source, str) or _answer_text(source[:MAX_VERSION_CHARS]) is None:
            return None
        out["source"] = source
    code = sig.get("http_status")
    if code is not None:
        if not isinstance(code, int) or isinstance(code, bool):
            return None
        out["http_status"] = code
    return out


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
