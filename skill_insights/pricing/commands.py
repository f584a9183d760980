"""`pricing show` and `pricing update`: the table in use as a document and a terminal table, and a LiteLLM-format
price file read from a path or a URL and checked before it replaces the table."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skill_insights.pricing import PriceTable, from_litellm

if TYPE_CHECKING:
    from rich.table import Table

_COLUMNS = ("model", "input", "output", "cache write 5m", "cache write 1h", "cache read", "input >200k", "output >200k")


def show_document(table: PriceTable) -> dict[str, Any]:
    """`pricing show --json`: the source, its date and every model's prices (USD per million tokens)."""
    return {
        "source": table.source,
        "updated": table.updated,
        "models": {
            name: {
                "input": p.base.input,
                "output": p.base.output,
                "cache_write_5m": p.base.cache_write_5m,
                "cache_write_1h": p.base.cache_write_1h,
                "cache_read": p.base.cache_read,
                **(
                    {"long_context_input": p.long_context.input, "long_context_output": p.long_context.output}
                    if p.long_context
                    else {}
                ),
            }
            for name, p in sorted(table.models.items())
        },
    }


def _usd(v: float | None) -> str:
    # Prices are whole cents or a few decimals: 0.30000000000000004 is float noise, not a price.
    return "–" if v is None else f"{round(v, 6):g}"


def show_table(doc: dict[str, Any]) -> tuple[str, Table]:
    """`pricing show`: a heading line and the table of `show_document`."""
    from rich.table import Table

    t = Table(show_edge=False, pad_edge=False)
    for c in _COLUMNS:
        t.add_column(c, justify="left" if c == "model" else "right")
    for name, p in doc["models"].items():
        fields = ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read")
        long_context = (p.get("long_context_input"), p.get("long_context_output"))
        t.add_row(name, *(_usd(p[f]) for f in fields), *(_usd(v) for v in long_context))
    return f"prices from {doc['source']} (updated {doc['updated']}), USD per million tokens", t


def load_litellm(source: str, timeout: float) -> dict[str, Any]:
    """The price document of a LiteLLM-format file at a path or an http(s) URL; raises when it cannot be read or
    is not a table we could price with."""
    if source.startswith(("http://", "https://")):
        import httpx

        resp = httpx.get(source, timeout=timeout, follow_redirects=True)
        resp.raise_for_status()
        raw = resp.content
    else:
        if not Path(source).is_file():  # a FIFO or a device would block or never end
            raise ValueError("not a regular file")
        raw = Path(source).read_bytes()
    parsed = json.loads(raw)
    if not isinstance(parsed, dict):
        raise ValueError(f"expected a JSON object of models (LiteLLM's format), got a JSON {type(parsed).__name__}")
    doc = from_litellm(parsed, updated=date.today().isoformat())
    PriceTable.from_document(doc, source=source)  # refuses a table we could not price with
    return doc


def save(doc: dict[str, Any], path: Path) -> PriceTable:
    """Write the price document as the table in use; returns it as loaded back."""
    from skill_insights.outputs import write_atomic

    write_atomic(path, json.dumps(doc, indent=1, allow_nan=False).encode(), 0o644)
    return PriceTable.load(path)
