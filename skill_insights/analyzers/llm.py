"""Optional LLM judge over the Anthropic Messages API (httpx), cached in SQLite by content hash.

Used only with `--llm`. The API key comes from `ANTHROPIC_API_KEY` or a file readable by its owner only
(mode 0600); it is sent in a header and never logged, stored or echoed in an error.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

import httpx

from skill_insights.analyzers.answers import VERDICTS, MessagesAnswer, PairVerdict, SkillScores, ValidationError
from skill_insights.analyzers.model import SkillView

ANTHROPIC_VERSION = "2023-06-01"

SKILL_PROMPT = """You review an agent skill (a SKILL.md file) against Anthropic's skill authoring guidance.
Score two dimensions from 0 to 100:
- description: does the frontmatter description say specifically what the skill does and when to use it,
  in the third person, with the key terms a user would say?
- content: are the instructions concise, actionable, well structured, with progressive disclosure?
Answer with JSON only: {{"description": <int>, "content": <int>, "reason": "<one sentence>"}}

<skill name="{name}">
{text}
</skill>"""

PAIR_PROMPT = """Two agent skills were found to be textually similar. Decide whether they are the same skill,
overlapping (partly the same job), or distinct. Answer with JSON only:
{{"verdict": "same" | "overlapping" | "distinct", "reason": "<one line>"}}

<skill_a name="{a_name}">
{a_text}
</skill_a>
<skill_b name="{b_name}">
{b_text}
</skill_b>"""


def read_api_key(key_file: str | None) -> tuple[str | None, str | None]:
    """(key, problem). The environment wins; a key file must not be readable by group or others."""
    env = os.environ.get("ANTHROPIC_API_KEY")
    if env and env.strip():
        return env.strip(), None
    if not key_file:
        return None, "no API key (set ANTHROPIC_API_KEY)"
    p = Path(key_file).expanduser()
    try:
        st = p.stat()
    except OSError:
        return None, "no API key (set ANTHROPIC_API_KEY or write it to the key file with mode 0600)"
    if stat.S_IMODE(st.st_mode) & 0o077:
        return None, f"key file {p} is readable by others (chmod 600 it)"
    try:
        key = p.read_text(encoding="utf-8").strip()
    except OSError as e:
        return None, f"cannot read key file {p}: {e.strerror}"
    return (key, None) if key else (None, f"key file {p} is empty")


def _json_in(text: str) -> dict[str, Any] | None:
    m = re.search(r"\{.*\}", text, re.S)
    if not m:
        return None
    try:
        doc = json.loads(m.group(0))
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


class Judge:
    """One client per phase run: a Messages API caller with an SQLite cache and a circuit breaker."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str,
        db_path: str | None,
        timeout: float = 60.0,
        client: httpx.Client | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self._key = api_key
        self.db_path = db_path
        self.client = client or httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)))
        self.calls = self.cached = self.failures = 0
        self.last_error: str | None = None
        self._broken = False  # after the service is unreachable, stop asking (one timeout, not N)
        self._db: Any = None

    def status(self) -> dict[str, Any]:
        s = "ok" if not self.failures else ("unavailable" if self._broken else "partial")
        out: dict[str, Any] = {
            "status": s,
            "model": self.model,
            "calls": self.calls,
            "cached": self.cached,
            "failures": self.failures,
        }
        if self.last_error:
            out["error"] = self.last_error
        return out

    # -- cache ------------------------------------------------------------------------------------------

    def _conn(self):
        """One store connection per judge, opened on first use (not one per cache lookup)."""
        if not self.db_path:
            return None
        if self._db is None:
            from skill_insights.store import connect

            self._db = connect(self.db_path)
        return self._db

    def _cache_get(self, key: str) -> dict[str, Any] | None:
        conn = self._conn()
        if conn is None:
            return None
        try:
            row = conn.execute("SELECT response FROM analysis_llm_cache WHERE key = ?", [key]).fetchone()
        except Exception:
            row = None
        return json.loads(row[0]) if row else None

    def _cache_put(self, key: str, kind: str, value: dict[str, Any]) -> None:
        conn = self._conn()
        if conn is None:
            return
        with contextlib.suppress(Exception):  # no cache only means asking again next run
            conn.execute(
                "INSERT OR REPLACE INTO analysis_llm_cache (key, kind, model, response, created_at) "
                "VALUES (?, ?, ?, ?, datetime('now'))",
                [key, kind, self.model, json.dumps(value)],
            )

    # -- calls ------------------------------------------------------------------------------------------

    def _ask(self, prompt: str) -> dict[str, Any]:
        if self._broken:
            raise RuntimeError(self.last_error or "LLM API unavailable")
        self.calls += 1
        try:
            resp = self.client.post(
                f"{self.base_url}/v1/messages",
                headers={
                    "x-api-key": self._key,
                    "anthropic-version": ANTHROPIC_VERSION,
                    "content-type": "application/json",
                },
                json={"model": self.model, "max_tokens": 300, "messages": [{"role": "user", "content": prompt}]},
            )
        except httpx.TimeoutException:
            self._broken = True
            raise RuntimeError("LLM API timed out") from None
        except httpx.HTTPError as e:
            self._broken = True
            raise RuntimeError(f"LLM API unreachable: {type(e).__name__}") from None
        if resp.status_code >= 400:
            if resp.status_code in (401, 403) or resp.status_code >= 500:
                self._broken = True  # a bad key or a down service will not fix itself within this run
            raise RuntimeError(f"LLM API answered HTTP {resp.status_code}")
        try:
            text = MessagesAnswer.model_validate(resp.json()).text()
        except ValueError:  # not JSON, or not a Messages answer (ValidationError is a ValueError)
            raise RuntimeError("LLM API answered something that is not a Messages response") from None
        doc = _json_in(text)
        if doc is None:
            raise RuntimeError("LLM answer holds no JSON object")
        return doc

    def _cached_call(self, key: str, kind: str, prompt: str, validate) -> dict[str, Any]:
        hit = self._cache_get(key)
        if hit is not None:
            self.cached += 1
            return {**hit, "status": "ok", "cached": True}
        try:
            doc = validate(self._ask(prompt))
        except (RuntimeError, ValueError) as e:
            self.failures += 1
            self.last_error = str(e)
            return {"status": "error", "error": str(e)}
        self._cache_put(key, kind, doc)
        return {**doc, "status": "ok", "cached": False}

    def judge_skill(self, view: SkillView, text: str) -> dict[str, Any]:
        digest = hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()
        key = f"skill:{self.model}:{view.content_hash or digest}:{digest}"

        def validate(doc: dict[str, Any]) -> dict[str, Any]:
            try:
                return SkillScores.model_validate(doc).model_dump()
            except ValidationError:
                raise ValueError("LLM answer lacks numeric description/content scores") from None

        return self._cached_call(key, "skill", SKILL_PROMPT.format(name=view.name, text=text[:20000]), validate)

    def judge_pair(self, a: SkillView, a_text: str, b: SkillView, b_text: str) -> dict[str, Any]:
        ha = a.content_hash or hashlib.sha256(a_text.encode()).hexdigest()
        hb = b.content_hash or hashlib.sha256(b_text.encode()).hexdigest()
        key = f"pair:{self.model}:" + ":".join(sorted((ha, hb)))

        def validate(doc: dict[str, Any]) -> dict[str, Any]:
            try:
                return PairVerdict.model_validate(doc).model_dump()
            except ValidationError:
                verdict = str(doc.get("verdict") or "").strip().lower()
                raise ValueError(f"LLM verdict {verdict!r} is not one of {', '.join(VERDICTS)}") from None

        prompt = PAIR_PROMPT.format(a_name=a.name, a_text=a_text[:8000], b_name=b.name, b_text=b_text[:8000])
        return self._cached_call(key, "pair", prompt, validate)


def client_from_options(options: dict[str, Any]) -> tuple[Judge | None, dict[str, Any]]:
    cfg = options.get("llm_config") or {}
    key, problem = read_api_key(cfg.get("key_file"))
    if key is None:
        return None, {"status": "not configured", "error": problem}
    judge = Judge(
        cfg.get("base_url") or "",
        cfg.get("model") or "",
        key,
        options.get("db_path"),
        timeout=float(cfg.get("timeout") or 60.0),
    )
    return judge, judge.status()
