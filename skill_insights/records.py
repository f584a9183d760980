"""Record types and derivation constants that capture, the store and pricing share (the base layer).

`PROCESSOR_VERSION` stamps what capture derived: bump it when parsing or derivation changes, and stored files
are re-derived on the next ingest (a change that only refuses lines nobody writes can instead be a migration
that removes what they left).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

PROCESSOR_VERSION = 3

# The token columns every usage row carries, in `Usage`'s field order.
TOKEN_COLS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_creation_5m",
    "cache_creation_1h",
    "cache_read_input_tokens",
)
# The four that add up to a row's `total_tokens` (the 5m/1h split is part of cache creation).
TOTAL_TOKEN_COLS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")

# No API response holds more tokens of one kind than this: far above any context window, and low enough that
# the store's 64-bit sums cannot overflow before billions of responses.
MAX_RESPONSE_TOKENS = 1_000_000_000

# Costs are summed as whole pico-dollars: integer sums are exact and do not depend on row order, so a total
# kept up to date by deltas equals one recomputed from scratch.
COST_UNITS_PER_USD = 10**12


@dataclass(slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_creation_5m: int = 0
    cache_creation_1h: int = 0
    cache_read_input_tokens: int = 0


def cost_units(cost_usd: float | None) -> int:
    return 0 if cost_usd is None else round(cost_usd * COST_UNITS_PER_USD)


def usd(units: int | None) -> float:
    return round((units or 0) / COST_UNITS_PER_USD, 10)


def local_date(ts: float) -> str:
    # Since 2000 (older timestamps are refused) every UTC offset and every clock change falls on a whole minute
    # (not always a quarter hour: St. John's changed clocks at 00:01), so the local date is constant within
    # each minute: one localtime() per minute instead of one per line.
    return _local_date_of_minute(int(ts // 60))


@functools.lru_cache(maxsize=4096)
def _local_date_of_minute(minute: int) -> str:
    return time.strftime("%Y-%m-%d", time.localtime(minute * 60))
