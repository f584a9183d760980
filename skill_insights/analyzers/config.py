"""Analysis settings: environment first, then `config.json`, then defaults. Plain dicts, so they cross into the
process pool as they are. The LLM key is deliberately not part of them: workers read it from the environment
or its file themselves, so it is never pickled, stored or printed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from skill_insights.settings import get_paths, read_config

DEFAULT_STALE_DAYS = 180
DEFAULT_LLM_MODEL = "claude-haiku-4-5"
# The public Messages API; only used with an explicit `--llm`.
DEFAULT_LLM_BASE_URL = "https://api.anthropic.com"
DEFAULT_TIMEOUT = 10.0
DEFAULT_CACHE_TTL_DAYS = 7


def _section(cfg: dict[str, Any], name: str) -> dict[str, Any]:
    v = cfg.get(name)
    return v if isinstance(v, dict) else {}


def build_options(
    *,
    llm: bool = False,
    stale_days: int | None = None,
    config: dict[str, Any] | None = None,
    now: float | None = None,
    usage: dict[str, Any] | None = None,
) -> dict[str, Any]:
    import time

    cfg = read_config() if config is None else config
    paths = get_paths()
    an, lc, rc = _section(cfg, "analysis"), _section(cfg, "llm"), _section(cfg, "registry")
    return {
        "now": time.time() if now is None else now,
        "stale_days": int(stale_days or an.get("stale_days") or DEFAULT_STALE_DAYS),
        "db_path": str(paths.database),
        "cache_dir": str(paths.cache_dir),
        "home": str(Path.home()),
        "usage": usage,  # None: the runner reads it from the store
        "llm": llm,
        "llm_config": {
            "base_url": os.environ.get("SKILL_INSIGHTS_LLM_BASE_URL") or lc.get("base_url") or DEFAULT_LLM_BASE_URL,
            "model": os.environ.get("SKILL_INSIGHTS_LLM_MODEL") or lc.get("model") or DEFAULT_LLM_MODEL,
            "key_file": lc.get("api_key_file") or str(paths.config_dir / "anthropic_api_key"),
            "timeout": float(lc.get("timeout") or 60.0),
        },
        "registry": {
            # No default: with no registry configured every skill is "not checked".
            "skills_api_url": os.environ.get("SKILLS_API_URL") or rc.get("skills_api_url"),
            "timeout": float(rc.get("timeout") or DEFAULT_TIMEOUT),
            "cache_ttl_days": float(rc.get("cache_ttl_days") or DEFAULT_CACHE_TTL_DAYS),
        },
    }
