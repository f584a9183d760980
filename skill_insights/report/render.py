"""Render the report dict into one self-contained HTML page (inline CSS, JS and SVG; no network).

Safety: jinja2 autoescapes every value in the markup; the interactive tables are fed from a
`<script type="application/json">` block whose `<`, `>`, `&`, U+2028 and U+2029 are \\u-escaped, and the
script builds their DOM with `textContent` only. The static CSS and JS are ours, inlined verbatim.
"""

from __future__ import annotations

import base64
import hashlib
import math
from datetime import date
from importlib import resources
from typing import Any

import orjson
from jinja2 import Environment, PackageLoader
from markupsafe import Markup

from skill_insights.usage import short_model

_ENV: Environment | None = None
DESC_CAP = 240
_SCRIPT_ESCAPES = {
    ord("<"): "\\u003c",
    ord(">"): "\\u003e",
    ord("&"): "\\u0026",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


def json_for_script(obj: Any) -> str:
    """JSON that is inert inside a <script> element: no `</script>`, `<!--` or line separators survive."""
    return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS).decode().translate(_SCRIPT_ESCAPES)


def fmt_tokens(n: float | None) -> str:
    if n is None:
        return "–"
    n = float(n)
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            v = n / div
            return f"{v:.1f}{suffix}" if v < 100 else f"{v:.0f}{suffix}"
    return f"{n:.0f}"


def fmt_cost(v: float | None) -> str:
    if v is None:
        return "n/a"
    if v == 0:
        return "$0"
    if abs(v) < 0.01:
        return f"${v:.4f}"
    if abs(v) < 100:
        return f"${v:.2f}"
    return f"${v:,.0f}"


def fmt_duration(sec: float | None) -> str:
    if sec is None:
        return "–"
    sec = float(sec)
    if sec < 60:
        return f"{sec:.0f}s" if sec >= 1 else f"{sec:.1f}s"
    m = sec / 60
    if m < 60:
        return f"{m:.0f}m"
    return f"{int(m // 60)}h {int(m % 60):02d}m"


def fmt_pct(v: float | None) -> str:
    return "–" if v is None else f"{v * 100:.0f}%"


def delta(cur: float | None, prev: float | None) -> dict[str, Any]:
    """Week-over-week change, as text and a direction the template colours."""
    cur, prev = cur or 0, prev or 0
    if not prev:
        return {"text": "new" if cur else "no change", "dir": "up" if cur else "flat"}
    ch = (cur - prev) / prev
    if abs(ch) < 0.005:
        return {"text": "±0%", "dir": "flat"}
    return {"text": f"{'+' if ch > 0 else '−'}{abs(ch) * 100:.0f}%", "dir": "up" if ch > 0 else "down"}


def nice_max(v: float) -> float:
    """The round number (1, 2, 2.5 or 5 times a power of ten) a chart's axis ends at, at or above `v`."""
    if v <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if v <= m * exp:
            return m * exp
    return 10 * exp


def daily_chart(daily: list[dict], width: int = 860, height: int = 240) -> dict[str, Any]:
    """Geometry for the tokens-per-day bars and cost-per-day line (computed here, drawn by the template)."""
    left, right, top, bottom = 52, 56, 14, 28
    pw, ph = width - left - right, height - top - bottom
    n = max(len(daily), 1)
    tmax = nice_max(max((d["tokens"] for d in daily), default=0))
    cmax = nice_max(max((d["cost"] for d in daily), default=0))
    slot = pw / n
    bw = max(slot * 0.68, 1.0)
    bars, points, labels = [], [], []
    weekly = any(d.get("week") for d in daily)
    for i, d in enumerate(daily):
        x = left + i * slot + (slot - bw) / 2
        h = ph * d["tokens"] / tmax
        bars.append(
            {
                "x": round(x, 1),
                "y": round(top + ph - h),
                "w": round(bw, 1),
                "h": round(h),
                "date": d["date"],
                "tokens": d["tokens"],
                "cost": d["cost"],
            }
        )
        cx = left + i * slot + slot / 2
        points.append(f"{cx:.1f},{top + ph - ph * d['cost'] / cmax:.1f}")
        every = max(1, math.ceil(n / 10))
        if i % every == 0 or i == n - 1:
            try:
                lab = date.fromisoformat(d["date"]).strftime("%b %-d")
            except ValueError:
                lab = d["date"]
            labels.append({"x": round(cx, 1), "text": lab})
    grid = [
        {"y": round(top + ph - ph * k / 4, 1), "t": fmt_tokens(tmax * k / 4), "c": fmt_cost(cmax * k / 4)}
        for k in range(5)
    ]
    return {
        "width": width,
        "height": height,
        "left": left,
        "right": width - right,
        "top": top,
        "base": top + ph,
        "bars": bars,
        "line": " ".join(points),
        "labels": labels,
        "grid": grid,
        "empty": not any(d["tokens"] for d in daily),
        "weekly": weekly,
    }


def hbar(value: float | None, top: float | None, width: int = 64) -> Markup:
    """A small inline bar (value / top of `width` px) on a track; nothing is filled for zero."""
    v = float(value or 0)
    w = 0 if not top or v <= 0 else max(2, round(min(1.0, v / float(top)) * width))
    fill = f'<i style="width:{w}px"></i>' if w else ""
    return Markup(f'<b class="hbar">{fill}</b>')  # the track's width is the stylesheet's (64 px)


def spark(values: list[int] | None, width: int = 72, height: int = 16) -> Markup:
    """A small inline SVG line of counts over time; nothing for an all-zero series."""
    vals = list(values or [])
    top = max(vals, default=0)
    if top <= 0 or len(vals) < 2:
        return Markup("")
    step = (width - 2) / (len(vals) - 1)
    # Whole pixels: at this size decimals only add bytes (four copies per period, ~25 rows each).
    pts = " ".join(f"{round(1 + i * step)},{round(height - 1 - (height - 2) * v / top)}" for i, v in enumerate(vals))
    return Markup(f'<svg class="spark" viewBox="0 0 {width} {height}"><polyline points="{pts}"/></svg>')


def fmt_day(day: str | None) -> str:
    """`Dec 7` for a YYYY-MM-DD day (the full date is in the cell's title)."""
    try:
        return date.fromisoformat((day or "")[:10]).strftime("%b %-d")
    except ValueError:
        return day or "–"


def _ago_from(today: str) -> Any:
    def ago(day: str | None) -> str:
        try:
            n = (date.fromisoformat(today) - date.fromisoformat((day or "")[:10])).days
        except ValueError:
            return ""
        return "today" if n == 0 else "yesterday" if n == 1 else f"{n} days ago" if n > 1 else ""

    return ago


def _static(name: str) -> Markup:
    text = resources.files("skill_insights.report").joinpath("templates", name).read_text(encoding="utf-8")
    # Our own static assets; guard against ever closing the element they are inlined into.
    if "</style" in text.lower() or "</script" in text.lower():
        raise ValueError(f"{name} must not contain a closing style/script tag")
    return Markup(text)


def _sha256(text: str) -> str:
    # The page's CSP allows exactly our one script by hash: an injected <script> or onerror= would not run.
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def _env() -> Environment:
    global _ENV
    if _ENV is None:
        env = Environment(
            loader=PackageLoader("skill_insights.report", "templates"),
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.filters.update(
            tokens=fmt_tokens, cost=fmt_cost, duration=fmt_duration, pct=fmt_pct, model=short_model, day=fmt_day
        )
        env.globals.update(delta=delta, hbar=hbar, spark=spark)
        _ENV = env
    return _ENV


def client_payload(data: dict[str, Any]) -> dict[str, Any]:
    """The interactive tables' data as compact row arrays (keys once per table, not once per row)."""
    strings: dict[str, int] = {}

    def sid(s: str | None) -> int:
        # Interned repeated strings (agents, scopes, phases, rules, projects): keeps large reports small.
        s = s or ""
        if s not in strings:
            strings[s] = len(strings)
        return strings[s]

    def loc(path: str) -> list:
        # Directory prefixes repeat across thousands of skills: intern them, keep the last part inline.
        cut = path.rfind("/") + 1
        return [sid(path[:cut]), path[cut:]]

    def rnd(v: float | None, nd: int) -> float | None:
        return None if v is None else round(v, nd)

    skills = []
    for s in data["skills"]:
        desc = s.get("description") or ""
        if len(desc) > DESC_CAP:  # the table shows ~110 chars; the detail view says it was cut
            desc = desc[:DESC_CAP].rstrip() + "…"
        skills.append(
            [
                s["id"],
                s["name"],
                desc,
                [sid(a) for a in s.get("agents", [])],
                [sid(x) for x in s.get("scopes", [])],
                # Days since use/change are derived in the page from the dates (8 and 10 are placeholders: 0 is
                # the shortest JSON, and a large report carries thousands of them).
                s.get("score"),
                s.get("group"),
                s.get("last_used"),
                0,
                (s.get("last_changed") or "")[:10] or None,
                0,
                s.get("activations") or 0,
                [
                    [
                        sid(f.get("phase")),
                        sid(f.get("rule")),
                        sid(f.get("severity")),
                        sid(f.get("message")),
                        sid(f.get("fix")),
                    ]
                    for f in s.get("findings", [])
                ],
                [
                    [
                        *loc(loc_.get("path") or ""),
                        sid(loc_.get("agent")),
                        sid(loc_.get("scope")),
                        1 if loc_.get("is_link") else 0,
                    ]
                    for loc_ in s.get("locations", [])
                ],
                s.get("files"),
                s.get("tile") or "",
            ]
        )
    sessions = [
        [
            x["session_id"],
            sid(x.get("project")),
            sid(x.get("git_branch")),
            (x.get("started_at") or "")[:16],
            rnd(x.get("wall_seconds"), 1),
            rnd(x.get("active_seconds"), 1),
            x.get("total_tokens") or 0,
            rnd(x.get("cost_usd"), 6),
            x.get("tool_calls") or 0,
            x.get("tool_errors") or 0,
            [sid(k) for k in x.get("skills") or []],
            sid(x.get("primary_model")),
            x.get("user_messages") or 0,
            x.get("subagent_calls") or 0,
            x.get("mcp_calls") or 0,
            [sid(t) for t in x.get("top_tools") or []],
            sid(x.get("short")),
        ]
        for x in data["sessions"]
    ]
    return {
        "strings": list(strings),
        "skills": skills,
        "sessions": sessions,
        "today": data["meta"]["today"],
        "neverUsedDays": data["meta"]["never_used_days"],
    }


def render(data: dict[str, Any]) -> str:
    env = _env()
    tmpl = env.get_template("report.html.j2")
    js = _static("report.js")
    skills = data["skills"]
    facets = {
        "agents": sorted({a for s in skills for a in s.get("agents", [])}),
        "scopes": sorted({x for s in skills for x in s.get("scopes", [])}),
    }
    return tmpl.render(
        d=data,
        charts={p["key"]: daily_chart(p["daily"]) for p in data["usage"]["periods"] if not p.get("same_as")},
        ago=_ago_from(data["meta"]["today"]),
        facets=facets,
        payload=Markup(json_for_script(client_payload(data))),
        css=_static("report.css"),
        js=js,
        script_hash=_sha256(js),
    )
