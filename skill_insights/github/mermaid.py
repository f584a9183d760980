"""Workflow diagrams: the ```mermaid flowchart of a SKILL.md, with the edges a session took counted and coloured.

Pure functions. A session's steps (skill invocations and tool calls, in order) are matched to the diagram's
nodes by id or label, compared without case or punctuation (`TDDCI` or `[tdd:ci]` is the skill `tdd:ci`,
`[Bash]` the Bash tool); each pair of consecutive matched steps joined by an edge traverses it. An edge is
green when traversed, red when a traversal left a failed step, grey when never traversed, and traversed
edges get an `Nx` counter in their label.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

GREEN, RED, GREY = "#4CAF50", "#F44336", "#9E9E9E"

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*mermaid\s*$", re.MULTILINE)
_HEADER = re.compile(r"^\s*(?:graph|flowchart)\b", re.IGNORECASE)
_VERBATIM = re.compile(
    r"^\s*(?:%%|subgraph\b|end\b|classDef\b|class\b|style\b|linkStyle\b|click\b|direction\b)", re.IGNORECASE
)
_SHAPES = (
    r'\["[^"]*"\]',
    r'\("[^"]*"\)',
    r'\{"[^"]*"\}',
    r"\[\[[^\]]*\]\]",
    r"\[\([^\)]*\)\]",
    r"\(\[[^\]]*\]\)",
    r"\(\([^\)]*\)\)",
    r"\{\{[^\}]*\}\}",
    r"\[[^\]]*\]",
    r"\([^\)]*\)",
    r"\{[^\}]*\}",
    r">[^\]]*\]",
)
_NODE = re.compile(r"\s*(?P<id>\w+)(?P<shape>" + "|".join(_SHAPES) + r")?(?P<cls>:::\w+)?")
_AMP = re.compile(r"\s*&")
# `-- text -->`, `-. text .->`, `== text ==>` (text inline), then plain arrows with an optional |label|.
_INLINE_ARROW = re.compile(
    r"\s*(?P<open><?(?:--|==|-\.))\s+(?P<text>[^|]+?)\s+(?P<close>-{2,}[->xo]|-{3,}|={2,}[=>xo]|={3,}|\.-+>|\.-+)"
)
_ARROW = re.compile(r"\s*(?P<arrow><?(?:-{2,}|={2,}|-\.+-)[->xo]?)(?:\s*\|(?P<label>[^|]*)\|)?")
_LOOKS_LIKE_LINK = re.compile(r"--|==|-\.")


@dataclass
class Edge:
    index: int
    src: str
    dst: str
    arrow: str
    label: str | None
    directed: bool


@dataclass
class _Chain:
    nodes: list[list[str]]  # per position: the node texts joined by &
    arrows: list[tuple[str, str | None]]


@dataclass
class Flowchart:
    lines: list[str | _Chain]
    edges: list[Edge]
    labels: dict[str, str] = field(default_factory=dict)
    parsed: bool = True  # False: some line looked like a link but could not be read (no colours then)


def extract_mermaid(skill_md: str) -> str | None:
    """The first ```mermaid fenced block of a SKILL.md that is a flowchart (graph/flowchart), else None."""
    for m in _FENCE.finditer(skill_md):
        fence = m.group("fence")
        body_start = m.end() + 1
        close = re.compile(r"^ {0,3}" + re.escape(fence[0]) + "{" + str(len(fence)) + r",}\s*$", re.MULTILINE)
        end = close.search(skill_md, body_start)
        body = skill_md[body_start : end.start() if end else len(skill_md)]
        first = next((ln for ln in body.splitlines() if ln.strip() and not ln.strip().startswith("%%")), "")
        if _HEADER.match(first):
            return body.rstrip("\n")
    return None


def _node_text(m: re.Match) -> tuple[str, str]:
    shape = m.group("shape") or ""
    label = shape
    for opener, closer in (("[[", "]]"), ("[(", ")]"), ("([", "])"), ("((", "))"), ("{{", "}}")):
        if label.startswith(opener) and label.endswith(closer):
            label = label[2:-2]
            break
    else:
        label = label[1:-1] if label else ""
    label = label.strip().strip('"')
    return m.group("id"), label


def _parse_chain(line: str, labels: dict[str, str]) -> _Chain | None:
    pos = 0
    nodes: list[list[str]] = []
    arrows: list[tuple[str, str | None]] = []
    while True:
        group: list[str] = []
        while True:
            m = _NODE.match(line, pos)
            if not m:
                return None
            node_id, label = _node_text(m)
            if m.group("shape"):
                labels[node_id] = label
            else:
                labels.setdefault(node_id, "")
            group.append(m.group(0).strip())
            pos = m.end()
            amp = _AMP.match(line, pos)
            if not amp:
                break
            pos = amp.end()
        nodes.append(group)
        rest = line[pos:]
        if not rest.strip() or rest.strip() == ";":
            break
        m = _INLINE_ARROW.match(line, pos)
        if m:
            close = m.group("close")
            arrow = (m.group("open")[:1] if m.group("open").startswith("<") else "") + _inline_arrow(close)
            arrows.append((arrow, m.group("text").strip()))
            pos = m.end()
            continue
        m = _ARROW.match(line, pos)
        if not m:
            return None
        arrows.append((m.group("arrow"), m.group("label")))
        pos = m.end()
    if not arrows:
        return None
    return _Chain(nodes, arrows)


def _inline_arrow(close: str) -> str:
    if close.startswith("."):
        return "-.->" if close.endswith(">") else "-.-"
    if close.startswith("="):
        return "==>" if close.endswith(">") else "==="
    return "--" + close[-1] if close[-1] in ">xo" else "---"


def parse_flowchart(src: str) -> Flowchart:
    lines: list[str | _Chain] = []
    edges: list[Edge] = []
    labels: dict[str, str] = {}
    parsed = True
    for raw in src.splitlines():
        if not raw.strip() or _HEADER.match(raw) or _VERBATIM.match(raw):
            lines.append(raw)
            continue
        chain = _parse_chain(raw, labels)
        if chain is None:
            if _LOOKS_LIKE_LINK.search(raw):
                parsed = False
            else:
                m = _NODE.fullmatch(raw.strip().rstrip(";"))
                if m:
                    node_id, label = _node_text(m)
                    labels[node_id] = label if m.group("shape") else labels.get(node_id, "")
            lines.append(raw)
            continue
        lines.append(chain)
        for i, (arrow, edge_label) in enumerate(chain.arrows):
            for s in chain.nodes[i]:
                for d in chain.nodes[i + 1]:
                    edges.append(Edge(len(edges), _id(s), _id(d), arrow, edge_label, ">" in arrow or arrow[-1] in "xo"))
    return Flowchart(lines, edges, labels, parsed)


def _id(node_text: str) -> str:
    m = _NODE.match(node_text)
    return m.group("id") if m else node_text


def norm(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text.lower())


@dataclass(frozen=True)
class Step:
    name: str
    failed: bool = False


def _keys(name: str) -> set[str]:
    keys = {norm(name), norm(name.rsplit(":", 1)[-1])}
    keys.discard("")
    return keys


def traverse(chart: Flowchart, steps: Iterable[Step]) -> tuple[dict[str, int], dict[str, int], dict[str, bool]]:
    """({"A->B": traversals}, {"A->B": traversals from a failed step}, {node: failed at its last visit})."""
    by_key: dict[str, str] = {}
    for node_id, label in chart.labels.items():
        for key in (norm(label), norm(node_id)):
            if key:
                by_key.setdefault(key, node_id)
    self_loops = {e.src for e in chart.edges if e.src == e.dst}
    path: list[tuple[str, bool]] = []
    for step in steps:
        node = next((by_key[k] for k in sorted(_keys(step.name)) if k in by_key), None)
        if node is None:
            continue
        if path and path[-1][0] == node and node not in self_loops:
            path[-1] = (node, step.failed)
            continue
        path.append((node, step.failed))
    lookup: dict[tuple[str, str], Edge] = {}
    for e in chart.edges:
        lookup.setdefault((e.src, e.dst), e)
        if not e.directed:
            lookup.setdefault((e.dst, e.src), e)
    counts: dict[str, int] = {}
    errors: dict[str, int] = {}
    for (a, failed), (b, _) in itertools.pairwise(path):
        taken = lookup.get((a, b))
        if taken is None:
            continue
        key = f"{taken.src}->{taken.dst}"
        counts[key] = counts.get(key, 0) + 1
        if failed:
            errors[key] = errors.get(key, 0) + 1
    visited = {node: failed for node, failed in path}
    return counts, errors, visited


def _quote(label: str) -> str:
    return '"' + label.replace('"', "#quot;").replace("|", "#124;") + '"'


def annotate(src: str, counts: dict[str, int], errors: dict[str, int], visited: dict[str, bool] | None = None) -> str:
    """The diagram with traversal counters, edge colours (linkStyle) and node classes. A diagram whose links
    cannot all be read comes back unchanged apart from a comment saying so: colouring by index would be wrong."""
    chart = parse_flowchart(src)
    if not chart.parsed:
        return src.rstrip("\n") + "\n%% skill-insights: some links could not be read; edges left uncoloured"
    out: list[str] = []
    seen: set[str] = set()
    edge_iter = iter(chart.edges)
    for line in chart.lines:
        if isinstance(line, str):
            out.append(line)
            continue
        parts = [" & ".join(line.nodes[0])]
        for i, (arrow, label) in enumerate(line.arrows):
            n = 0
            for _ in line.nodes[i]:
                for _ in line.nodes[i + 1]:
                    e = next(edge_iter)
                    key = f"{e.src}->{e.dst}"
                    if key not in seen:
                        n += counts.get(key, 0)
                        seen.add(key)
            text = (label or "").strip().strip('"')
            if n:
                text = f"{text} ({n}x)" if text else f"{n}x"
            parts.append(f"{arrow}|{_quote(text)}|" if text else arrow)
            parts.append(" & ".join(line.nodes[i + 1]))
        out.append("    " + " ".join(parts))
    first_of: dict[str, int] = {}
    for e in chart.edges:
        first_of.setdefault(f"{e.src}->{e.dst}", e.index)
    for e in chart.edges:
        key = f"{e.src}->{e.dst}"
        colour = GREY
        if first_of[key] == e.index and counts.get(key):
            colour = RED if errors.get(key) else GREEN
        width = "2px" if colour != GREY else "1px"
        out.append(f"    linkStyle {e.index} stroke:{colour},stroke-width:{width}")
    visited = visited or {}
    out.append(f"    classDef si_visited fill:#C8E6C9,stroke:{GREEN}")
    out.append(f"    classDef si_failed fill:#FFCDD2,stroke:{RED}")
    out.append(f"    classDef si_unvisited fill:#EEEEEE,stroke:{GREY},color:#616161")
    groups: dict[str, list[str]] = {"si_visited": [], "si_failed": [], "si_unvisited": []}
    for node_id in sorted(chart.labels):
        cls = "si_unvisited" if node_id not in visited else ("si_failed" if visited[node_id] else "si_visited")
        groups[cls].append(node_id)
    for cls, ids in groups.items():
        if ids:
            out.append(f"    class {','.join(ids)} {cls}")
    return "\n".join(out)
