"""`skill-insights statusline`: the one line Claude Code shows under its prompt (its `statusLine` command).

Claude Code pipes a JSON payload to the command after each assistant message (debounced) and kills a run still
going when the next starts, so this runs the way the hooks run: the standard library only (plus `sqlite3`),
the store opened read-only with a short busy timeout, nothing written to it. Whatever goes wrong (no store, a
store a writer holds, a payload that is not JSON, an unknown field) it still prints one line and exits 0.

Fields (`--format`, comma-separated, in order): model, session (this session's cost from the store, each
response once, side calls included), today, block (the 5-hour block in progress: cost and time left),
context (context window used), 5h and 7d (rate-limit use, reset time and pace, when the payload has
`rate_limits`: only with a claude.ai subscription). A `rate_limits` reading is spooled for `usage quota`.
"""

from __future__ import annotations

import os
import sys
import time

if __package__:
    from . import fastpath, locations
else:  # run as a script from statusline_entry.py: the hooks folder is sys.path[0]
    import fastpath  # type: ignore[no-redef,import-not-found]
    import locations  # type: ignore[no-redef,import-not-found]

DEFAULT_FORMAT = "model,session,today,block,context,5h,7d"
FIELDS = ("model", "session", "today", "block", "context", "5h", "7d", "cc")
BUSY_TIMEOUT_S = 0.1
BLOCK_SECONDS = 5 * 3600
WINDOWS = {"5h": ("five_hour", 5 * 3600), "7d": ("seven_day", 7 * 86400)}
SIDE_CALLS = "<side-calls>"  # store.ledger.SIDE_CALLS
SEPARATOR = " | "
MAX_SPOOLED = 2000  # readings waiting for a drain; past it, new ones are dropped (the line still prints)
_DIM, _RED, _YELLOW, _GREEN, _RESET = "\033[2m", "\033[31m", "\033[33m", "\033[32m", "\033[0m"


def data_dir() -> str:
    """settings.get_paths().data_dir, computed without platformdirs (as platformdirs computes it)."""
    home = locations.home_override()
    if home:
        return os.path.join(os.path.expanduser(home), "data")
    if sys.platform == "darwin":
        return os.path.join(os.path.expanduser("~/Library/Application Support"), locations.APP)
    xdg = os.environ.get("XDG_DATA_HOME", "")
    base = xdg if xdg.strip() else os.path.expanduser("~/.local/share")
    return os.path.join(base, locations.APP)


def database_path() -> str:
    return os.path.join(data_dir(), "skill-insights.db")


def quota_spool_dir() -> str:
    """rate_limits readings waiting for `usage quota` (or the daemon) to store them."""
    return os.path.join(locations.runtime_dir(), "quota")


# -- numbers from the store ---------------------------------------------------------------------------------


class Store:
    """The store opened read-only; every figure is None when it cannot be read (missing, busy, foreign)."""

    def __init__(self, path: str) -> None:
        self.conn = None
        if not os.path.isfile(path):
            return
        try:
            import sqlite3

            self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
        except Exception:
            self.conn = None

    def one(self, sql: str, params: tuple = ()) -> tuple | None:
        if self.conn is None:
            return None
        try:
            return self.conn.execute(sql, params).fetchone()
        except Exception:  # busy, locked, no such table (an older store): that figure is unknown
            return None

    def rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        if self.conn is None:
            return []
        try:
            return self.conn.execute(sql, params).fetchall()
        except Exception:
            return []

    def session_cost(self, session_id: str) -> float | None:
        row = self.one("SELECT cost_usd FROM sessions WHERE session_id = ?", (session_id,))
        return row[0] if row else None

    def today_cost(self, now: float) -> float | None:
        row = self.one("SELECT sum(cost_usd) FROM usage_daily WHERE date = ?", (_local_day(now),))
        return row[0] if row and row[0] is not None else (0.0 if self.conn is not None and row else None)

    def block(self, now: float) -> tuple[float, float] | None:
        """(cost so far, seconds left) of the 5-hour block in progress, as `usage blocks` computes blocks; None
        when there is none. Reads the responses of yesterday and today only (the date index)."""
        rows = self.rows(
            "SELECT ts, cost_usd FROM responses WHERE date >= ? AND ts IS NOT NULL ORDER BY ts",
            (_local_day(now - 86400),),
        )
        if not rows:
            return None
        start = last = None
        cost = 0.0
        for ts, c in rows:
            if start is None or ts - start > BLOCK_SECONDS or ts - last > BLOCK_SECONDS:
                start, cost = ts - ts % 3600, 0.0
            last = ts
            cost += c or 0.0
        if start is None or last is None or now - last >= BLOCK_SECONDS or now >= start + BLOCK_SECONDS:
            return None
        return cost, start + BLOCK_SECONDS - now


def _local_day(ts: float) -> str:
    return time.strftime("%Y-%m-%d", time.localtime(ts))


# -- formatting ---------------------------------------------------------------------------------------------


def money(v: float | None) -> str:
    if v is None:
        return "–"
    return f"${v:.2f}" if v >= 0.995 or v == 0 else f"${v:.3f}"


def duration(seconds: float) -> str:
    s = max(0, int(seconds))
    if s >= 86400:
        return f"{s // 86400}d{(s % 86400) // 3600}h"
    if s >= 3600:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 60}m"


def epoch(value: object) -> float | None:
    """A reset time as epoch seconds: a number (seconds, or milliseconds) or an ISO 8601 string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        v = float(value)
        return v / 1000 if v > 1e11 else v
    if isinstance(value, str) and value:
        try:
            from datetime import datetime

            return datetime.fromisoformat(value).timestamp()
        except (ValueError, OverflowError):
            return None
    return None


def pace(used: float, resets_at: float, window: float, now: float) -> tuple[float, float | None]:
    """(elapsed % of the window, seconds until the limit at this burn rate or None if it lasts past the reset)."""
    start = resets_at - window
    elapsed = min(max(now - start, 0.0), window)
    elapsed_pct = elapsed / window * 100
    if used <= 0 or elapsed <= 0:
        return elapsed_pct, None
    rate = used / elapsed  # % per second
    to_limit = (100 - used) / rate if used < 100 else 0.0
    return elapsed_pct, (to_limit if now + to_limit < resets_at else None)


def window_field(label: str, limits: object, now: float, color: bool) -> str | None:
    key, length = WINDOWS[label]
    w = limits.get(key) if isinstance(limits, dict) else None
    if not isinstance(w, dict):
        return None
    used = w.get("used_percentage")
    if isinstance(used, bool) or not isinstance(used, int | float):
        return None
    resets = epoch(w.get("resets_at"))
    text = f"{label} {used:.0f}%"
    if resets is None:
        return text
    elapsed_pct, to_limit = pace(float(used), resets, length, now)
    clock = time.strftime("%H:%M" if length <= 86400 else "%a %H:%M", time.localtime(resets))
    text += f" (of {elapsed_pct:.0f}% elapsed, resets {clock}"
    if to_limit is not None:
        text += f", limit in {duration(to_limit)}"
    text += ")"
    if color:
        hue = _RED if to_limit is not None else (_YELLOW if used > elapsed_pct else _GREEN)
        text = hue + text + _RESET
    return text


def render(doc: dict, fields: list[str], store: Store, now: float, color: bool = False) -> str:
    parts: list[str] = []
    sid = doc.get("session_id") if isinstance(doc.get("session_id"), str) else None
    for name in fields:
        text: str | None
        if name == "model":
            m = doc.get("model")
            text = (m.get("display_name") or m.get("id")) if isinstance(m, dict) else None
            text = text if isinstance(text, str) else None
        elif name == "session":
            ours = store.session_cost(sid) if sid else None
            text = f"session {money(ours)}" if ours is not None else None
            theirs = claude_code_cost(doc)
            if text is None and theirs is not None:
                text = f"session {money(theirs)}*"  # Claude Code's own figure: not captured yet
        elif name == "cc":
            theirs = claude_code_cost(doc)
            text = f"cc {money(theirs)}" if theirs is not None else None
        elif name == "today":
            cost = store.today_cost(now)
            text = f"today {money(cost)}" if cost is not None else None
        elif name == "block":
            b = store.block(now)
            text = f"block {money(b[0])} {duration(b[1])} left" if b else None
        elif name == "context":
            text = context_field(doc)
        elif name in WINDOWS:
            text = window_field(name, doc.get("rate_limits"), now, color)
        else:
            text = f"{name}?"
        if text:
            parts.append(text)
    line = SEPARATOR.join(parts) or "skill-insights"
    return (_DIM + line + _RESET) if color and not parts else line


def claude_code_cost(doc: dict) -> float | None:
    """The payload's `cost.total_cost_usd`: Claude Code's own figure for the session, side calls included."""
    cost = doc.get("cost")
    value = cost.get("total_cost_usd") if isinstance(cost, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def context_field(doc: dict) -> str | None:
    cw = doc.get("context_window")
    if not isinstance(cw, dict):
        return None
    pct = cw.get("used_percentage")
    if isinstance(pct, int | float) and not isinstance(pct, bool):
        return f"ctx {pct:.0f}%"
    size, used = cw.get("context_window_size"), cw.get("total_input_tokens")
    if isinstance(size, int) and size > 0 and isinstance(used, int) and used > 0:
        return f"ctx {used / size * 100:.0f}%"
    return None


# -- rate-limit readings ------------------------------------------------------------------------------------


def spool_quota(doc: dict, now: float) -> str | None:
    """Write the payload's `rate_limits` reading into the quota spool (tmp file, then rename), for `usage
    quota` and the daemon to store. Returns why not, or None."""
    limits = doc.get("rate_limits")
    if not isinstance(limits, dict) or not limits:
        return "no rate_limits"
    directory = quota_spool_dir()
    if not fastpath.private_dir(locations.runtime_dir()) or not fastpath.private_dir(directory):
        return "no spool dir"
    try:
        if len(os.listdir(directory)) >= MAX_SPOOLED:
            return "spool full"
    except OSError:
        return "spool unreadable"
    import json  # only with a reading to write: json imports re

    reading = {"ts": now, "session_id": doc.get("session_id"), "rate_limits": limits}
    raw = json.dumps(reading, separators=(",", ":")).encode()
    name = f"{time.time_ns()}-{os.getpid()}.json"
    tmp = os.path.join(directory, f".{name}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, raw)
        finally:
            os.close(fd)
        os.replace(tmp, os.path.join(directory, name))
    except OSError as e:
        try:  # noqa: SIM105 - contextlib is not loaded here
            os.unlink(tmp)
        except OSError:
            pass
        return f"cannot spool ({e.__class__.__name__})"
    return None


# -- entry ----------------------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> tuple[list[str], bool]:
    """(fields, colour) from `[--format F] [--color]`; anything else is ignored (a statusline never fails)."""
    fmt, color = DEFAULT_FORMAT, False
    args = iter(argv)
    for arg in args:
        name, eq, value = arg.partition("=")
        if name == "--format":
            fmt = value if eq else next(args, fmt)
        elif arg == "--color":
            color = True
    fields = [f.strip() for f in fmt.split(",") if f.strip()]
    return fields or DEFAULT_FORMAT.split(","), color


def main(argv: list[str]) -> int:
    """Print the line; always exit 0."""
    line = "skill-insights"
    try:
        fields, color = parse_args(argv)
        raw = fastpath.read_stdin(locations.MAX_PAYLOAD + 1)
        doc = fastpath.parse_object(raw) if raw.strip() and len(raw) <= locations.MAX_PAYLOAD else None
        doc = doc if isinstance(doc, dict) else {}
        now = time.time()
        store = Store(database_path())
        line = render(doc, fields, store, now, color)
        if doc.get("rate_limits"):
            spool_quota(doc, now)
    except BaseException:  # including a SIGTERM-less interrupt: still one line, exit 0
        pass
    try:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
    return 0
