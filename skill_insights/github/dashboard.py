"""`dashboard.html`: one self-contained page of inline SVG charts (no script, no network). Pure."""

from __future__ import annotations

import math
from datetime import date
from html import escape
from typing import Any

from skill_insights.report.render import nice_max

W, H = 560, 240
PAD_L, PAD_R, PAD_T, PAD_B = 56, 16, 16, 48
PALETTE = ("#1976D2", "#43A047", "#FB8C00", "#8E24AA", "#E53935", "#00ACC1", "#6D4C41", "#546E7A")

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#212121;background:#fafafa}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:0 0 8px}
.meta{color:#616161;margin-bottom:16px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:16px}
.card{background:#fff;border:1px solid #e0e0e0;border-radius:6px;padding:12px}
.kpis{display:flex;gap:12px;flex-wrap:wrap;margin-bottom:16px}
.kpi{background:#fff;border:1px solid #e0e0e0;border-radius:6px;padding:8px 12px;min-width:120px}
.kpi b{display:block;font-size:18px}
svg text{font-size:11px;fill:#424242}.empty{color:#9e9e9e}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #eee;padding:4px 6px;text-align:left}
"""


def _t(v: object) -> str:
    return escape(str(v), quote=True)


def _money(v: float | None) -> str:
    return "n/a" if v is None else f"${v:,.2f}"


def _svg(body: list[str], label: str, height: int = H) -> str:
    return (
        f'<svg role="img" aria-label="{_t(label)}" viewBox="0 0 {W} {height}" width="100%" '
        f'xmlns="http://www.w3.org/2000/svg">' + "".join(body) + "</svg>"
    )


def _empty(label: str) -> str:
    return f'<p class="empty">No data for {_t(label)}.</p>'


def _y_axis(top: float, fmt) -> list[str]:
    out = []
    for i in range(5):
        v = top * i / 4
        y = H - PAD_B - (H - PAD_T - PAD_B) * i / 4
        out.append(f'<line x1="{PAD_L}" y1="{y:.1f}" x2="{W - PAD_R}" y2="{y:.1f}" stroke="#eeeeee"/>')
        out.append(f'<text x="{PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end">{_t(fmt(v))}</text>')
    return out


def _compact(v: float) -> str:
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(v) >= size:
            return f"{v / size:.1f}{suffix}"
    return f"{v:.0f}"


def line_chart(points: list[tuple[str, float]], label: str) -> str:
    if not points:
        return _empty(label)
    top = nice_max(max(v for _, v in points))
    span = W - PAD_L - PAD_R
    xs = [PAD_L + (span * i / (len(points) - 1) if len(points) > 1 else span / 2) for i in range(len(points))]
    ys = [H - PAD_B - (H - PAD_T - PAD_B) * v / top for _, v in points]
    body = _y_axis(top, _compact)
    body.append(
        f'<polyline fill="none" stroke="{PALETTE[0]}" stroke-width="2" points="'
        + " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
        + '"/>'
    )
    step = max(1, len(points) // 8)
    for i, ((day, v), x, y) in enumerate(zip(points, xs, ys, strict=True)):
        body.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{PALETTE[0]}"><title>{_t(day)}: '
            f"{v:,.0f} tokens</title></circle>"
        )
        if i % step == 0:
            body.append(f'<text x="{x:.1f}" y="{H - PAD_B + 16}" text-anchor="middle">{_t(day[5:])}</text>')
    return _svg(body, label)


def bar_chart(items: list[tuple[str, float]], label: str, fmt=_compact) -> str:
    if not items:
        return _empty(label)
    items = items[:30]
    top = nice_max(max(v for _, v in items))
    span = W - PAD_L - PAD_R
    slot = span / len(items)
    body = _y_axis(top, fmt)
    for i, (name, v) in enumerate(items):
        h = (H - PAD_T - PAD_B) * v / top
        x = PAD_L + slot * i + slot * 0.15
        body.append(
            f'<rect x="{x:.1f}" y="{H - PAD_B - h:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" '
            f'fill="{PALETTE[i % len(PALETTE)]}"><title>{_t(name)}: {_t(fmt(v))}</title></rect>'
        )
        short = name if len(name) <= 14 else name[:13] + "…"
        body.append(f'<text x="{x + slot * 0.35:.1f}" y="{H - PAD_B + 16}" text-anchor="middle">{_t(short)}</text>')
    return _svg(body, label)


def hbar_chart(items: list[tuple[str, float]], label: str, fmt=_compact) -> str:
    if not items:
        return _empty(label)
    items = items[:15]
    row = 22
    height = PAD_T + row * len(items) + 8
    top = max(v for _, v in items) or 1
    left = 160
    body = []
    for i, (name, v) in enumerate(items):
        y = PAD_T + row * i
        w = (W - left - 70) * v / top
        short = name if len(name) <= 24 else name[:23] + "…"
        body.append(f'<text x="{left - 6}" y="{y + 15}" text-anchor="end">{_t(short)}</text>')
        body.append(
            f'<rect x="{left}" y="{y + 3}" width="{w:.1f}" height="{row - 6}" '
            f'fill="{PALETTE[i % len(PALETTE)]}"><title>{_t(name)}: {_t(fmt(v))}</title></rect>'
        )
        body.append(f'<text x="{left + w + 6:.1f}" y="{y + 15}">{_t(fmt(v))}</text>')
    return _svg(body, label, height)


def donut_chart(items: list[tuple[str, float]], label: str) -> str:
    total = sum(v for _, v in items)
    if not items or total <= 0:
        return _empty(label)
    cx, cy, r = 120, H / 2, 90
    body = []
    angle = -math.pi / 2
    for i, (name, v) in enumerate(items):
        colour = PALETTE[i % len(PALETTE)]
        share = v / total
        if share >= 0.9999:
            body.append(f'<circle cx="{cx}" cy="{cy}" r="{r}" fill="{colour}"><title>{_t(name)}: 100%</title></circle>')
        else:
            end = angle + 2 * math.pi * share
            x1, y1 = cx + r * math.cos(angle), cy + r * math.sin(angle)
            x2, y2 = cx + r * math.cos(end), cy + r * math.sin(end)
            large = 1 if share > 0.5 else 0
            body.append(
                f'<path d="M{cx},{cy} L{x1:.2f},{y1:.2f} A{r},{r} 0 {large} 1 {x2:.2f},{y2:.2f} Z" '
                f'fill="{colour}"><title>{_t(name)}: {share:.1%}</title></path>'
            )
            angle = end
        body.append(f'<rect x="250" y="{24 + 20 * i}" width="12" height="12" fill="{colour}"/>')
        body.append(f'<text x="268" y="{34 + 20 * i}">{_t(name)} ({share:.1%})</text>')
    body.append(f'<circle cx="{cx}" cy="{cy}" r="{r * 0.55}" fill="#fff"/>')
    return _svg(body, label)


def render(repo: str, start: date, end: date, sessions: list[tuple[Any, dict[str, Any]]], f: dict[str, Any]) -> str:
    """The page for one repository and period: `sessions` are (thread, session document) pairs, a thread having
    `kind`, `number`, `title` and `status`; `f` the figures of `extract.figures`."""
    kpis = [
        ("Sessions", f["sessions"]),
        ("PRs", f["prs"]),
        ("Issues", f["issues"]),
        ("Total cost", _money(f["cost_usd"])),
        ("Commits", f["commits"]),
        ("Avg cost / PR", _money(f["avg_cost_per_pr"])),
        ("Acceptance", "n/a" if f["acceptance_rate"] is None else f"{f['acceptance_rate']:.0f}%"),
    ]
    charts = [
        ("Tokens over time", line_chart(list(f["tokens_by_day"].items()), "tokens over time")),
        ("Cost per PR / issue", bar_chart(f["cost_by_thread"], "cost per PR", _money)),
        (
            "Skills (invocations)",
            hbar_chart([(k, v["invocations"]) for k, v in f["skills"].items()], "skills", lambda v: f"{v:.0f}"),
        ),
        (
            "Acceptance (pull requests)",
            hbar_chart([(k, v) for k, v in f["status_counts"].items()], "acceptance", lambda v: f"{v:.0f}"),
        ),
        ("Models (tokens)", donut_chart([(k, v["tokens"]) for k, v in f["models"].items()], "models")),
    ]
    rows = []
    for t, s in sessions:
        rows.append(
            f"<tr><td>{'PR' if t.kind == 'pr' else 'issue'} #{t.number}</td><td>{_t(t.title)}</td>"
            f"<td>{_t(s.get('session_id_short', ''))}</td><td>{_t(s.get('started_at') or '')}</td>"
            f"<td>{_t(_money(s.get('estimated_cost_usd')))}</td>"
            f"<td>{_t(', '.join(k['skill'] for k in s.get('skills_invoked', [])))}</td>"
            f"<td>{_t(t.status)}</td></tr>"
        )
    return "".join(
        [
            '<!doctype html><html lang="en"><head><meta charset="utf-8">',
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
            '<meta name="viewport" content="width=device-width,initial-scale=1">',
            f"<title>Claude Code analytics: {_t(repo)}</title><style>{_CSS}</style></head><body>",
            "<h1>Claude Code analytics</h1>",
            f'<div class="meta">{_t(repo)} · {start.isoformat()} to {end.isoformat()}</div>',
            '<div class="kpis">' + "".join(f'<div class="kpi">{_t(k)}<b>{_t(v)}</b></div>' for k, v in kpis) + "</div>",
            '<div class="grid">',
            *(f'<section class="card"><h2>{_t(title)}</h2>{svg}</section>' for title, svg in charts),
            "</div>",
            '<section class="card" style="margin-top:16px"><h2>Sessions</h2><table id="sessions"><thead><tr>'
            "<th>Target</th><th>Title</th><th>Session</th><th>Started</th><th>Cost</th><th>Skills</th><th>Status</th>"
            "</tr></thead><tbody>",
            *rows,
            "</tbody></table></section>",
            "</body></html>\n",
        ]
    )
