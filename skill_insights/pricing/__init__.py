"""Model prices and the cost of one API response.

A bundled, dated table (`prices.json`, USD per million tokens) is the default; `skill-insights pricing update
--from FILE_OR_URL` converts a LiteLLM-format price file into the same shape and stores it in the data dir,
where it takes precedence. An unknown model costs `None`, never a silent 0.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from skill_insights.records import Usage

MTOK = 1_000_000
CACHE_WRITE_5M = 1.25
CACHE_WRITE_1H = 2.0
CACHE_READ = 0.1

_DATE_SUFFIX = re.compile(r"-(\d{8}|latest)$")
_VERSION_SUFFIX = re.compile(r"-v\d+(:\d+)?$")


@dataclass(frozen=True, slots=True)
class Rates:
    """USD per million tokens."""

    input: float
    output: float
    cache_write_5m: float
    cache_write_1h: float
    cache_read: float

    @classmethod
    def from_entry(cls, e: dict) -> Rates:
        if not isinstance(e, dict):
            raise ValueError(f"a price entry is not an object: {e!r}")
        inp = _rate(e, "input")
        return cls(
            input=inp,
            output=_rate(e, "output"),
            cache_write_5m=_rate(e, "cache_write_5m", inp * CACHE_WRITE_5M),
            cache_write_1h=_rate(e, "cache_write_1h", inp * CACHE_WRITE_1H),
            cache_read=_rate(e, "cache_read", inp * CACHE_READ),
        )


def _rate(e: dict, key: str, default: float | None = None) -> float:
    """A price per million tokens: a finite, non-negative number."""
    v = e.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
        raise ValueError(f"price {key!r} is not a non-negative number: {v!r}")
    return float(v)


@dataclass(frozen=True, slots=True)
class ModelPrice:
    base: Rates
    long_context: Rates | None = None
    threshold: int = 200_000


def normalize_model(name: str) -> str:
    """`us.anthropic.claude-sonnet-4-5-20250929-v1:0`, `anthropic/claude-sonnet-4-5` → `claude-sonnet-4-5`."""
    n = name.strip().lower()
    n = n.rsplit("/", 1)[-1]
    if "anthropic." in n:
        n = n.split("anthropic.", 1)[1]
    n = _VERSION_SUFFIX.sub("", n)
    n = n.split("@", 1)[0]
    n = _DATE_SUFFIX.sub("", n)
    return n


class PriceTable:
    def __init__(self, models: dict[str, ModelPrice], updated: str | None = None, source: str = "bundled"):
        self.models = models
        self.updated = updated
        self.source = source
        self._cache: dict[str, ModelPrice | None] = {}

    @classmethod
    def from_document(cls, doc: dict, source: str) -> PriceTable:
        if not isinstance(doc, dict) or not isinstance(doc.get("models"), dict):
            raise ValueError(f"{source}: not a price table (an object with a `models` object)")
        models: dict[str, ModelPrice] = {}
        for name, entry in doc["models"].items():
            if not isinstance(entry, dict):
                raise ValueError(f"{source}: the entry for {name!r} is not an object")
            lc = entry.get("long_context")
            models[normalize_model(name)] = ModelPrice(
                base=Rates.from_entry(entry),
                long_context=Rates.from_entry(lc) if lc else None,
                threshold=int(lc.get("threshold", 200_000)) if lc else 200_000,
            )
        return cls(models, updated=doc.get("updated"), source=source)

    @classmethod
    def bundled(cls) -> PriceTable:
        # Beside this module (package data): importlib.resources would cost an import of its own per command.
        text = Path(__file__).with_name("prices.json").read_text(encoding="utf-8")
        return cls.from_document(json.loads(text), source="bundled")

    @classmethod
    def load(cls, user_file: Path | None = None) -> PriceTable:
        """The user's table (from `pricing update`) over the bundled one."""
        table = cls.bundled()
        if user_file and user_file.exists():
            user = cls.from_document(json.loads(user_file.read_text(encoding="utf-8")), source=str(user_file))
            table.models.update(user.models)
            table.updated = user.updated or table.updated
            table.source = f"{user.source} over bundled"
        return table

    def lookup(self, model: str) -> ModelPrice | None:
        if model in self._cache:
            return self._cache[model]
        norm = normalize_model(model)
        price = self.models.get(norm)
        if price is None:
            # `claude-sonnet-4-5-foo` → the longest known name it starts with.
            best = max((k for k in self.models if norm.startswith(k + "-")), key=len, default=None)
            price = self.models[best] if best else None
        self._cache[model] = price
        return price

    def cost(self, model: str, u: Usage) -> float | None:
        price = self.lookup(model)
        if price is None:
            return None
        rates = price.base
        prompt = u.input_tokens + u.cache_creation_input_tokens + u.cache_read_input_tokens
        if price.long_context is not None and prompt > price.threshold:
            rates = price.long_context
        total = (
            u.input_tokens * rates.input
            + u.output_tokens * rates.output
            + u.cache_creation_5m * rates.cache_write_5m
            + u.cache_creation_1h * rates.cache_write_1h
            + u.cache_read_input_tokens * rates.cache_read
        )
        return total / MTOK


def from_litellm(doc: dict, updated: str | None = None) -> dict:
    """Convert a LiteLLM `model_prices_and_context_window.json` into our table (Claude models only)."""
    models: dict[str, dict] = {}
    for name, e in doc.items():
        if not isinstance(e, dict) or "claude" not in name.lower():
            continue
        inp, out = e.get("input_cost_per_token"), e.get("output_cost_per_token")
        if not isinstance(inp, int | float) or not isinstance(out, int | float):
            continue
        for key in ("input_cost_per_token", "output_cost_per_token"):
            if not math.isfinite(e[key]) or e[key] < 0:
                raise ValueError(f"{name}: {key} is not a non-negative number: {e[key]!r}")
        entry: dict = {"input": inp * MTOK, "output": out * MTOK}
        for ours, theirs in (
            ("cache_write_5m", "cache_creation_input_token_cost"),
            ("cache_write_1h", "cache_creation_input_token_cost_above_1hr"),
            ("cache_read", "cache_read_input_token_cost"),
        ):
            if isinstance(e.get(theirs), int | float):
                entry[ours] = e[theirs] * MTOK
        lc_in = e.get("input_cost_per_token_above_200k_tokens")
        lc_out = e.get("output_cost_per_token_above_200k_tokens")
        if isinstance(lc_in, int | float) and isinstance(lc_out, int | float):
            lc: dict = {"threshold": 200_000, "input": lc_in * MTOK, "output": lc_out * MTOK}
            for ours, theirs in (
                ("cache_write_5m", "cache_creation_input_token_cost_above_200k_tokens"),
                ("cache_read", "cache_read_input_token_cost_above_200k_tokens"),
            ):
                if isinstance(e.get(theirs), int | float):
                    lc[ours] = e[theirs] * MTOK
            entry["long_context"] = lc
        key = normalize_model(name)
        # Prefer the plain Anthropic entry over provider-prefixed copies of the same model.
        if key not in models or "/" not in name:
            models[key] = entry
    if not models:
        raise ValueError("no Claude model with input and output prices in that file")
    return {"updated": updated, "unit": "USD per million tokens", "source": "litellm", "models": models}
