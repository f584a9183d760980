"""Active time: activity blocks split wherever two consecutive timestamps are more than 10 minutes apart.

Kept per file as a short list of [start, end] blocks, updated line by line; a session's blocks are the
union of its files' blocks merged with the same rule, which equals splitting the merged timestamps.
"""

from __future__ import annotations

IDLE_GAP_SECONDS = 600.0


def add_timestamp(blocks: list[list[float]], ts: float, gap: float = IDLE_GAP_SECONDS) -> None:
    """Fold one timestamp into sorted, gap-separated blocks (in place)."""
    if blocks:
        last = blocks[-1]
        if last[0] <= ts <= last[1]:
            return
        if last[1] < ts <= last[1] + gap:
            last[1] = ts
            return
        if ts > last[1]:
            blocks.append([ts, ts])
            return
    else:
        blocks.append([ts, ts])
        return
    # An out-of-order timestamp (rare): insert it and re-merge.
    blocks.append([ts, ts])
    blocks[:] = merge_blocks(blocks, gap)


def merge_blocks(blocks: list[list[float]], gap: float = IDLE_GAP_SECONDS) -> list[list[float]]:
    merged: list[list[float]] = []
    for start, end in sorted(blocks):
        if merged and start <= merged[-1][1] + gap:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged


def active_seconds(blocks: list[list[float]]) -> float:
    return sum(end - start for start, end in blocks)
