"""`usage quota`: the rate-limit readings the statusline saw, next to the tokens and cost captured meanwhile.

The statusline (`hooks/statusline.py`) never writes the store: each `rate_limits` reading Claude Code hands it
is spooled as a small file, and stored here (`drain`) by `usage quota` or the daemon. Per window (five_hour,
seven_day) and reset time, the readings show the used percentage over time; the tokens and cost captured
from the window's start to each reading give the tokens one percent of the quota stands for.
"""

from __future__ import annotations

import contextlib
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from skill_insights.records import TOTAL_TOKEN_COLS, usd
from skill_insights.safefile import read_capped

WINDOW_SECONDS = {"five_hour": 5 * 3600, "seven_day": 7 * 86400}
MAX_READING_BYTES = 64 * 1024


def spool_dir() -> Path:
    from skill_insights.hooks.statusline import quota_spool_dir

    return Path(quota_spool_dir())


def epoch(value: object) -> float | None:
    from skill_insights.hooks.statusline import epoch as parse

    return parse(value)


def readings_of(doc: object) -> list[tuple[str, float, str, float, float | None]]:
    """(window, ts, session_id, used %, resets_at) of one spooled reading; [] for anything malformed."""
    if not isinstance(doc, dict):
        return []
    ts, sid, limits = doc.get("ts"), doc.get("session_id"), doc.get("rate_limits")
    if isinstance(ts, bool) or not isinstance(ts, int | float) or not isinstance(limits, dict):
        return []
    out = []
    for window, w in limits.items():
        if not isinstance(window, str) or not isinstance(w, dict):
            continue
        used = w.get("used_percentage")
        if isinstance(used, bool) or not isinstance(used, int | float) or not 0 <= used <= 1000:
            continue
        out.append((window, float(ts), sid if isinstance(sid, str) else "", float(used), epoch(w.get("resets_at"))))
    return out


def drain(conn, directory: Path | None = None) -> int:
    """Store the spooled readings (each file removed once its rows are committed). Returns readings stored."""
    directory = directory or spool_dir()
    try:
        names = sorted(n for n in os.listdir(directory) if n.endswith(".json") and not n.startswith("."))
    except OSError:
        return 0
    rows: list[tuple] = []
    done: list[Path] = []
    for name in names:
        path = directory / name
        try:
            doc = orjson.loads(read_capped(path, MAX_READING_BYTES, follow=False))
        except (OSError, ValueError):  # a link, a FIFO, too large or garbage: removed all the same
            doc = None
        rows.extend(readings_of(doc))
        done.append(path)
    if rows:
        from skill_insights.store import write_transaction

        with write_transaction(conn) as c:
            c.executemany(
                """INSERT OR REPLACE INTO quota_snapshots (window, ts, session_id, used_percentage, resets_at)
                   VALUES (?, ?, ?, ?, ?)""",
                rows,
            )
    for path in done:
        with contextlib.suppress(OSError):
            path.unlink()
    return len(rows)


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _usage_between(conn, start: float, end: float) -> tuple[int, int]:
    """(tokens, cost units) of the responses captured from `start` to `end`, side calls included."""
    from skill_insights.records import local_date

    row = conn.execute(
        f"""SELECT {" + ".join(f"coalesce(sum({c}), 0)" for c in TOTAL_TOKEN_COLS)}, coalesce(sum(cost_units), 0)
            FROM responses WHERE date >= ? AND ts >= ? AND ts <= ?""",
        [local_date(start - 86400), start, end],
    ).fetchone()
    return int(row[0]), int(row[1])


def history(conn, since: str | None = None, until: str | None = None, tz=None) -> dict[str, Any]:
    """{"windows": [...]}: per window and reset time, its readings with the tokens and cost captured from the
    window's start to each, and the tokens per 1% of quota at the last reading."""
    with contextlib.suppress(Exception):  # a store that cannot be written still shows what it holds
        drain(conn)
    groups: dict[tuple[str, float | None], list[tuple]] = {}
    for window, ts, sid, used, resets in conn.execute(
        "SELECT window, ts, session_id, used_percentage, resets_at FROM quota_snapshots ORDER BY window, ts"
    ):
        day = datetime.fromtimestamp(ts, tz).date().isoformat()
        if (since and day < since) or (until and day > until):
            continue
        groups.setdefault((window, resets), []).append((ts, sid, used))
    windows = []
    for (window, resets), readings in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[1][0][0])):
        length = WINDOW_SECONDS.get(window)
        start = resets - length if resets is not None and length else None
        snapshots = []
        for ts, sid, used in readings:
            tokens, units = _usage_between(conn, start, ts) if start is not None else (None, None)
            snapshots.append(
                {
                    "at": _iso(ts),
                    "session_id": sid or None,
                    "used_percentage": used,
                    "total_tokens": tokens,
                    "cost_usd": usd(units) if units is not None else None,
                }
            )
        last = snapshots[-1]
        per_pct = (
            round(last["total_tokens"] / last["used_percentage"])
            if last["total_tokens"] is not None and last["used_percentage"] > 0
            else None
        )
        cost_per_pct = (
            round(last["cost_usd"] / last["used_percentage"], 6)
            if last["cost_usd"] is not None and last["used_percentage"] > 0
            else None
        )
        windows.append(
            {
                "window": window,
                "start": _iso(start),
                "resets_at": _iso(resets),
                "used_percentage": last["used_percentage"],
                "total_tokens": last["total_tokens"],
                "cost_usd": last["cost_usd"],
                "tokens_per_percent": per_pct,
                "cost_usd_per_percent": cost_per_pct,
                "snapshots": snapshots,
            }
        )
    return {"windows": windows}


def table(doc: dict[str, Any], tz=None) -> list[str]:
    def local(iso: str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        return datetime.fromisoformat(iso).astimezone(tz).strftime(fmt) if iso else "?"

    lines = []
    for w in doc["windows"]:
        per = f"{w['tokens_per_percent']:,} tokens per 1%" if w["tokens_per_percent"] is not None else "–"
        tokens = f"{w['total_tokens']:,} tokens" if w["total_tokens"] is not None else "? tokens"
        cost = f"${w['cost_usd']:.2f}" if w["cost_usd"] is not None else "$?"
        lines.append(
            f"{w['window']:<10} resets {local(w['resets_at'])}  {w['used_percentage']:.0f}% used  "
            f"{tokens}  {cost}  {per}"
        )
        for s in w["snapshots"]:
            t = f"{s['total_tokens']:,}" if s["total_tokens"] is not None else "?"
            lines.append(f"    {local(s['at'], '%m-%d %H:%M:%S')}  {s['used_percentage']:>5.1f}%  {t} tokens")
    return lines


__all__ = ["drain", "history", "readings_of", "table"]


def lines(doc: dict[str, Any], tz=None) -> list[str]:
    """`usage quota` for a person: the table, or why there is nothing to show yet."""
    if not doc["windows"]:
        return [
            "no rate-limit snapshots yet: they come from the statusline (`install --statusline`) "
            "with a claude.ai subscription"
        ]
    return table(doc, tz)
