"""Usage reports over the store: daily, monthly, per session, and one session's stats."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    import sqlite3

    import sqlite_utils

TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


PERIODS = ("daily", "monthly", "session")


def parse_day(value: str) -> str:
    """`2026-11-02`, `2026/11/02` or `20261102` → `2026-11-02`; ValueError for anything else."""
    from datetime import date

    v = value.replace("/", "-")
    if len(v) == 8 and v.isdigit():
        v = f"{v[:4]}-{v[4:6]}-{v[6:]}"
    return date.fromisoformat(v).isoformat()


def unpriced_warning(model: str) -> str:
    return f"warning: no price for model {model!r}; its cost is unknown (null)"


def catch_up(db) -> None:
    """Bring rollups up to date before a query; the rollup code is only imported when there is work."""
    if db.execute("SELECT 1 FROM dirty LIMIT 1").fetchone() is not None:
        from skill_insights.store.rollups import flush

        flush(db)


def report(db, period: str, since: str | None, until: str | None, project: str | None) -> dict[str, Any]:
    """`usage daily|monthly|session`: {rows, totals}, rollups brought up to date first."""
    catch_up(db)
    if period == "session":
        return by_session(db, since, until, project)
    return by_period(db, period, since, until, project)


def _empty() -> dict[str, Any]:
    return {**dict.fromkeys(TOKEN_FIELDS, 0), "total_tokens": 0, "cost_usd": None, "unpriced_models": []}


def _add(acc: dict, toks: dict, cost: float | None, priced: bool, model: str | None, unpriced: bool) -> None:
    for f in TOKEN_FIELDS:
        acc[f] += toks[f] or 0
    acc["total_tokens"] = sum(acc[f] for f in TOKEN_FIELDS)
    if priced:
        acc["cost_usd"] = (acc["cost_usd"] or 0.0) + (cost or 0.0)
    if unpriced and model and model not in acc["unpriced_models"]:
        acc["unpriced_models"].append(model)


def _filters(since: str | None, until: str | None, col: str) -> tuple[str, list]:
    where, params = [], []
    if since:
        where.append(f"{col} >= ?")
        params.append(since)
    if until:
        where.append(f"{col} <= ?")
        params.append(until)
    return (" AND ".join(where) or "1"), params


def _project_clause(project: str | None, alias: str = "s") -> tuple[str, list]:
    if not project:
        return "1", []
    return (
        f"({alias}.project = ? OR {alias}.project_dir = ? OR instr({alias}.project, ?) > 0)",
        [project, project, project],
    )


def _report(rows: list[dict]) -> dict[str, Any]:
    """`{"rows", "totals"}`: the totals add up the rows (a null cost stays out of the sum)."""
    totals = _empty()
    for r in rows:
        for f in TOKEN_FIELDS:
            totals[f] += r[f] or 0
        if r["cost_usd"] is not None:
            totals["cost_usd"] = (totals["cost_usd"] or 0.0) + r["cost_usd"]
        for m in r["unpriced_models"]:
            if m not in totals["unpriced_models"]:
                totals["unpriced_models"].append(m)
    totals["total_tokens"] = sum(totals[f] for f in TOKEN_FIELDS)
    if totals["cost_usd"] is not None:
        totals["cost_usd"] = round(totals["cost_usd"], 10)
    return {"rows": rows, "totals": totals}


def _finish(rows: dict[str, dict], key: str) -> dict[str, Any]:
    out = []
    for k in sorted(rows):
        r = rows[k]
        r["models"] = sorted(r["models"])
        r["cost_usd"] = round(r["cost_usd"], 10) if r["cost_usd"] is not None else None
        out.append({key: k, **r})
    return _report(out)


def by_period(
    db: sqlite_utils.Database,
    period: str,
    since: str | None = None,
    until: str | None = None,
    project: str | None = None,
) -> dict[str, Any]:
    """`period` is "daily" (rows keyed `date`) or "monthly" (rows keyed `month`)."""
    if project:
        where, params = _filters(since, until, "r.date")
        pclause, pparams = _project_clause(project)
        sql = f"""SELECT r.date, r.model, sum(r.input_tokens), sum(r.output_tokens),
                         sum(r.cache_creation_input_tokens), sum(r.cache_read_input_tokens),
                         sum(r.cost_usd), count(*), sum(r.cost_usd IS NULL)
                  FROM responses r JOIN sessions s USING (session_id)
                  WHERE {where} AND {pclause} GROUP BY r.date, r.model"""
        params = params + pparams
    else:
        where, params = _filters(since, until, "date")
        sql = f"""SELECT date, model, input_tokens, output_tokens, cache_creation_input_tokens,
                         cache_read_input_tokens, cost_usd, responses, unpriced_responses
                  FROM usage_daily WHERE {where}"""
    rows: dict[str, dict] = defaultdict(lambda: {**_empty(), "models": set(), "model_breakdowns": {}})
    for date, model, i, o, cc, cr, cost, n, n_unpriced in db.execute(sql, params):
        key = date if period == "daily" else date[:7]
        acc = rows[key]
        acc["models"].add(model)
        toks = dict(zip(TOKEN_FIELDS, (i, o, cc, cr), strict=True))
        _add(acc, toks, cost, n > n_unpriced, model, bool(n_unpriced))
        per_model = acc["model_breakdowns"].setdefault(model, {**_empty(), "model": model})
        _add(per_model, toks, cost, n > n_unpriced, model, bool(n_unpriced))
    for acc in rows.values():
        breakdowns = sorted(acc["model_breakdowns"].values(), key=lambda m: -m["total_tokens"])
        for m in breakdowns:
            del m["unpriced_models"]
            if m["cost_usd"] is not None:  # sums of floats depend on row order: keep output stable
                m["cost_usd"] = round(m["cost_usd"], 10)
        acc["model_breakdowns"] = breakdowns
    return _finish(rows, "date" if period == "daily" else "month")


def by_session(
    db: sqlite_utils.Database,
    since: str | None = None,
    until: str | None = None,
    project: str | None = None,
) -> dict[str, Any]:
    where, params = _filters(since, until, "s.last_date")
    pclause, pparams = _project_clause(project)
    out = []
    for r in db.execute(
        f"""SELECT session_id, project, models, input_tokens, output_tokens, cache_creation_input_tokens,
                   cache_read_input_tokens, total_tokens, cost_usd, unpriced_models, started_at, ended_at,
                   git_branch, git_repo, last_date
            FROM sessions s WHERE {where} AND {pclause} ORDER BY ended_at, session_id""",
        params + pparams,
    ):
        out.append(
            {
                "session_id": r[0],
                "project": r[1],
                "models": sorted(orjson.loads(r[2] or "{}")),
                **dict(zip(TOKEN_FIELDS, r[3:7], strict=True)),
                "total_tokens": r[7],
                "cost_usd": r[8],
                "unpriced_models": orjson.loads(r[9] or "[]"),
                "started_at": r[10],
                "ended_at": r[11],
                "git_branch": r[12],
                "git_repo": r[13],
                "last_date": r[14],
            }
        )
    return _report(out)


# -- weeks, 5-hour blocks, time zones ----------------------------------------------------------------------

BLOCK_SECONDS = 5 * 3600


def zone(name: str | None):
    """A `--timezone` value as a tzinfo (None: the local zone); ValueError naming it when it is unknown."""
    if name is None:
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as Europe/Berlin or UTC)") from None


def _day_in(ts: float, tz) -> str:
    from datetime import datetime

    return datetime.fromtimestamp(ts, tz).date().isoformat() if tz is not None else _local_day(ts)


def _local_day(ts: float) -> str:
    from skill_insights.records import local_date

    return local_date(ts)


def week_of(day: str) -> str:
    """The Monday (ISO week start) of a `YYYY-MM-DD` day."""
    from datetime import date, timedelta

    d = date.fromisoformat(day)
    return (d - timedelta(days=d.weekday())).isoformat()


def _response_rows(db, since: str | None, until: str | None, project: str | None, tz) -> list[tuple]:
    """(ts, day in `tz`, model, input, output, cache write, cache read, cost_units, cost is null) per counted
    response, side calls included, between `since` and `until` (days in `tz`), in time order."""
    pclause, pparams = _project_clause(project)
    join = "JOIN sessions s USING (session_id)" if project else ""
    rows = db.execute(
        f"""SELECT r.ts, r.date, r.model, r.input_tokens, r.output_tokens, r.cache_creation_input_tokens,
                   r.cache_read_input_tokens, r.cost_units, r.cost_usd IS NULL
            FROM responses r {join} WHERE {pclause if project else "1"} ORDER BY r.ts""",
        pparams if project else [],
    ).fetchall()
    out = []
    for ts, date, *rest in rows:
        day = _day_in(ts, tz) if ts is not None else date
        if day is None or (since and day < since) or (until and day > until):
            continue
        out.append((ts, day, *rest))
    return out


def by_period_in_zone(db, period: str, since, until, project, tz) -> dict[str, Any]:
    """`usage daily|weekly|monthly` with days counted in `tz` (None: the local days capture stored)."""
    from skill_insights.records import usd

    if period in ("daily", "monthly") and tz is None:
        return by_period(db, period, since, until, project)
    if period == "session":  # a session falls on the day it ended, in `tz`
        doc = by_session(db, None, None, project)
        kept = []
        for r in doc["rows"]:
            from datetime import datetime

            ended = datetime.fromisoformat(r["ended_at"]).astimezone(tz) if r["ended_at"] else None
            day = ended.date().isoformat() if ended else r["last_date"]
            if day and ((since and day < since) or (until and day > until)):
                continue
            kept.append({**r, "last_date": day})
        return _report(kept)
    key_of = {"daily": lambda d: d, "weekly": week_of, "monthly": lambda d: d[:7]}[period]
    if tz is None and not project:  # weeks of the stored local days: the daily rollup is enough
        doc = by_period(db, "daily", since, until, None)
        rows: dict[str, dict] = {}
        for r in doc["rows"]:
            acc = rows.setdefault(key_of(r["date"]), {**_empty(), "models": set()})
            acc["models"].update(r["models"])
            for f in TOKEN_FIELDS:
                acc[f] += r[f]
            acc["total_tokens"] = sum(acc[f] for f in TOKEN_FIELDS)
            if r["cost_usd"] is not None:
                acc["cost_usd"] = round((acc["cost_usd"] or 0.0) + r["cost_usd"], 10)
            for m in r["unpriced_models"]:
                if m not in acc["unpriced_models"]:
                    acc["unpriced_models"].append(m)
        return _finish(rows, "week")
    grouped: dict[str, dict] = defaultdict(lambda: {**_empty(), "models": set(), "_units": 0, "_priced": False})
    for _ts, day, model, i, o, cc, cr, units, unpriced in _response_rows(db, since, until, project, tz):
        acc = grouped[key_of(day)]
        acc["models"].add(model)
        _add(acc, dict(zip(TOKEN_FIELDS, (i, o, cc, cr), strict=True)), None, False, model, bool(unpriced))
        if not unpriced:
            acc["_units"] += units or 0
            acc["_priced"] = True
    for acc in grouped.values():
        acc["cost_usd"] = usd(acc.pop("_units")) if acc.pop("_priced") else None
    return _finish(grouped, {"daily": "date", "weekly": "week", "monthly": "month"}[period])


def _iso_utc(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def blocks(
    db, since=None, until=None, project=None, tz=None, active_only: bool = False, now: float | None = None
) -> dict[str, Any]:
    """`usage blocks`: 5-hour billing windows as ccusage computes them. A block starts at its first response's
    time floored to the hour (UTC) and lasts 5 h; a response more than 5 h after the block's start or after
    the response before it starts the next one. Rows carry `start` and `end` (ISO 8601, UTC)."""
    import time as _time

    from skill_insights.records import usd

    now = _time.time() if now is None else now
    found: list[dict] = []
    current: dict | None = None
    last_ts = 0.0
    for ts, _day, model, i, o, cc, cr, units, unpriced in _response_rows(db, since, until, project, tz):
        if ts is None:
            continue
        if current is None or ts - current["_start"] > BLOCK_SECONDS or ts - last_ts > BLOCK_SECONDS:
            start = ts - ts % 3600
            current = {"_start": start, "_units": 0, "_priced": False, **_empty(), "models": set(), "responses": 0}
            found.append(current)
        last_ts = ts
        current["_last"] = ts
        current["responses"] += 1
        current["models"].add(model)
        _add(current, dict(zip(TOKEN_FIELDS, (i, o, cc, cr), strict=True)), None, False, model, bool(unpriced))
        if not unpriced:
            current["_units"] += units or 0
            current["_priced"] = True
    rows = []
    for b in found:
        start, last = b.pop("_start"), b.pop("_last")
        end = start + BLOCK_SECONDS
        active = now - last < BLOCK_SECONDS and now < end
        if active_only and not active:
            continue
        units, priced = b.pop("_units"), b.pop("_priced")
        b["cost_usd"] = usd(units) if priced else None
        b["models"] = sorted(b["models"])
        elapsed = max(0.0, min(now, end) - start)
        row = {
            "start": _iso_utc(start),
            "end": _iso_utc(end),
            "last_activity": _iso_utc(last),
            "active": active,
            **b,
        }
        if active:
            row["remaining_seconds"] = round(end - now)
            # At this block's rate so far, what it will have cost by its end (ccusage's projection).
            row["projected_cost_usd"] = (
                round(b["cost_usd"] * (BLOCK_SECONDS / elapsed), 6) if b["cost_usd"] is not None and elapsed else None
            )
        rows.append(row)
    return _report(rows)


def blocks_for_display(doc: dict[str, Any], tz) -> dict[str, Any]:
    """Block rows for the table: the start in `tz` (local by default), the block in progress marked."""
    from datetime import datetime

    rows = []
    for r in doc["rows"]:
        start = datetime.fromisoformat(r["start"]).astimezone(tz).strftime("%Y-%m-%d %H:%M")
        if r["active"]:
            left = r.get("remaining_seconds") or 0
            start += f" (active, {left // 3600}h{(left % 3600) // 60:02d}m left)"
        rows.append({**r, "start": start})
    return {"rows": rows, "totals": doc["totals"]}


def match_sessions(db: sqlite_utils.Database | sqlite3.Connection, ident: str, limit: int = 4) -> list[str]:
    """Session ids for a full id (exactly that one) or a prefix (every match, up to `limit`)."""
    exact = db.execute("SELECT session_id FROM sessions WHERE session_id = ?", [ident]).fetchone()
    if exact:
        return [exact[0]]
    pattern = ident.replace("\\", "").replace("%", r"\%").replace("_", r"\_") + "%"
    rows = db.execute(
        "SELECT session_id FROM sessions WHERE session_id LIKE ? ESCAPE '\\' ORDER BY session_id LIMIT ?",
        [pattern, limit],
    ).fetchall()
    return [r[0] for r in rows]


def one_session(db: sqlite_utils.Database | sqlite3.Connection, ident: str) -> str:
    """The one captured session `ident` (an id or a unique prefix) names; LookupError says why there is none."""
    catch_up(db)
    matches = match_sessions(db, ident)
    if len(matches) > 1:
        raise LookupError(f"{ident!r} matches several sessions ({', '.join(m[:13] for m in matches)}…)")
    if not matches:
        raise LookupError(f"no session {ident!r} in the store (run `skill-insights ingest`?)")
    return matches[0]


def period_report(
    db, period: str, since: str | None, until: str | None, project: str | None, tz, zoned: bool, active: bool = False
) -> dict[str, Any]:
    """`usage PERIOD`'s document (daily, weekly, monthly, session or blocks); `zoned`: days counted in `tz`."""
    if period == "blocks":
        catch_up(db)
        return blocks(db, since, until, project, tz, active_only=active)
    if period == "weekly" or zoned:
        catch_up(db)
        return by_period_in_zone(db, period, since, until, project, tz)
    # `usage … --json` is usually answered by skill_insights.quick without click; this is the same query.
    return report(db, period, since, until, project)


def session_stats(db: sqlite_utils.Database, session_id: str) -> dict[str, Any] | None:
    """One session's stats: models, tokens, estimated cost, tools, skills, subagents, duration, activity."""
    cur = db.execute("SELECT * FROM sessions WHERE session_id = ?", [session_id])
    row = cur.fetchone()
    if row is None:
        return None
    s = dict(zip([d[0] for d in cur.description], row, strict=True))
    tools = orjson.loads(s["tools"] or "{}")
    return {
        "session_id": s["session_id"],
        "project": s["project"],
        "git_branch": s["git_branch"],
        "git_repo": s["git_repo"],
        "started_at": s["started_at"],
        "ended_at": s["ended_at"],
        "duration_seconds": s["wall_seconds"],
        "active_seconds": s["active_seconds"],
        "messages": {"user": s["user_messages"], "assistant": s["assistant_messages"]},
        "primary_model": s["primary_model"],
        "models": orjson.loads(s["models"] or "{}"),
        "tokens": {f: s[f] for f in TOKEN_FIELDS},
        "total_tokens": s["total_tokens"],
        "estimated_cost_usd": s["cost_usd"],
        # Calls Claude Code's own ledger holds beyond the transcript (title generation…), counted in the totals.
        "side_calls": orjson.loads(s.get("side_calls") or "{}"),
        "unpriced_models": orjson.loads(s["unpriced_models"] or "[]"),
        "tools": tools,
        "tool_calls": s["tool_calls"],
        "tool_errors": s["tool_errors"],
        "skills_invoked": orjson.loads(s["skills"] or "{}"),
        "subagents": orjson.loads(s["subagents"] or "[]"),
        "mcp_calls": orjson.loads(s["mcp"] or "{}"),
        "slash_commands": orjson.loads(s["slash"] or "{}"),
        "files": s["files"],
        "malformed_lines": s["malformed"],
    }


# -- display ------------------------------------------------------------------------------------------------

_MODEL_ID = re.compile(r"^(?:claude-)?(?P<family>[a-z]+)-(?P<major>\d+)(?:-(?P<minor>\d{1,2}))?(?:-(?P<date>\d{8}))?$")


def short_model(model: str | None, others: list[str] | tuple[str, ...] = ()) -> str:
    """`claude-sonnet-4-5-20250929` → `sonnet-4.5`; the full id where shortening would make it equal to another
    model in `others`, or where the id is not of that shape."""
    if not model:
        return "–"
    m = _MODEL_ID.match(model)
    if not m:
        return model
    short = f"{m['family']}-{m['major']}" + (f".{m['minor']}" if m["minor"] else "")
    if any(o != model and short_model(o) == short for o in others):
        return model
    return short


def fmt_duration(seconds: float | None) -> str:
    """`3h 47m`, `12m`, `40s`."""
    if seconds is None:
        return "–"
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    m = s // 60
    if m < 60:
        return f"{m}m"
    return f"{m // 60}h {m % 60:02d}m"


def plural(n: int, word: str, many: str | None = None) -> str:
    """`1 error`, `2 errors`."""
    return f"{n} {word if n == 1 else (many or word + 's')}"
