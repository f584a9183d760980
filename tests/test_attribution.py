"""`usage sources`: every captured activation attributed to the skill, agent, command or MCP server it comes
from, on a HOME with user, project and marketplace-plugin definitions and transcripts made from the
real-client fixtures."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import IsolatedHome
from markupsafe import escape

from skill_insights.cli import cli
from skill_insights.settings import get_paths
from tests.transcript_corpus import FIXTURES, rewrite_ids

SECRETS = (
    "SECRET-PROJECT-ENV",
    "SECRET-PROJECT-HEADER",
    "SECRET-PLUGIN-ENV",
    "SECRET-USER-HEADER",
    "SECRET-QUERY-TOKEN",
    "SECRET-URL-PASSWORD",
    "SECRET-ARG-TOKEN",
    "SECRET-PATH-KEY",
)


def _md(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _agent(path: Path, name: str, description: str) -> None:
    _md(path, f"---\nname: {name}\ndescription: {description}\nmodel: sonnet\ntools: Read, Grep\n---\nYou review.\n")


def build_home(paths: IsolatedHome, tmp: Path) -> dict[str, Path]:
    """User-scope items in the conftest's HOME and Claude folder, a project and another folder in `tmp`."""
    home, claude = paths.home, paths.claude
    proj = tmp / "proj"
    other = tmp / "other"
    other.mkdir(parents=True)
    # user scope
    _agent(claude / "agents" / "reviewer.md", "reviewer", "Reviews code for the user.")
    _agent(claude / "agents" / "idle-agent.md", "idle-agent", "An agent nobody calls.")
    _md(claude / "commands" / "deploy.md", "---\ndescription: Deploy (user)\n---\nDeploy it.\n")
    _md(claude / "commands" / "git" / "commit.md", "Commit everything with a good message\n")
    _md(claude / "commands" / "idle-cmd.md", "---\ndescription: A command nobody types\n---\nx\n")
    _md(claude / "skills" / "uskill" / "SKILL.md", "---\nname: uskill\ndescription: User skill things.\n---\nbody\n")
    # project scope: the same agent and command names as the user's
    _agent(proj / ".claude" / "agents" / "reviewer.md", "reviewer", "Reviews code for this project.")
    _md(proj / ".claude" / "commands" / "deploy.md", "---\ndescription: Deploy (project)\n---\nDeploy.\n")
    _md(
        proj / ".mcp.json",
        json.dumps(
            {
                "mcpServers": {
                    "db": {
                        "command": "npx -y db-mcp --token SECRET-ARG-TOKEN",
                        "env": {"DB_TOKEN": "SECRET-PROJECT-ENV"},
                    },
                    "web": {
                        "type": "http",
                        "url": "https://me:SECRET-URL-PASSWORD@mcp.example/SECRET-PATH-KEY/mcp?key=SECRET-QUERY-TOKEN",
                        "headers": {"Authorization": "Bearer SECRET-PROJECT-HEADER"},
                    },
                }
            }
        ),
    )
    # a marketplace plugin carrying a skill, an agent, a command and an .mcp.json
    plug = claude / "plugins" / "cache" / "mkt" / "plug" / "1.0.0"
    _md(plug / ".claude-plugin" / "plugin.json", json.dumps({"name": "plug", "version": "1.0.0"}))
    _md(plug / "skills" / "pskill" / "SKILL.md", "---\nname: pskill\ndescription: Plugin skill things.\n---\nbody\n")
    _agent(plug / "agents" / "pagent.md", "pagent", "The plugin's agent.")
    _md(plug / "commands" / "pcmd.md", "---\ndescription: The plugin's command\n---\nrun\n")
    _md(plug / ".mcp.json", json.dumps({"pserver": {"command": "pserve", "env": {"K": "SECRET-PLUGIN-ENV"}}}))
    _md(
        claude / "plugins" / "installed_plugins.json",
        json.dumps(
            {"version": 2, "plugins": {"plug@mkt": [{"installPath": str(plug), "version": "1.0.0", "scope": "user"}]}}
        ),
    )
    _md(
        claude / ".claude.json",
        json.dumps(
            {
                "mcpServers": {
                    "usrv": {"type": "sse", "url": "https://u.example/sse", "headers": {"X-Key": "SECRET-USER-HEADER"}}
                },
                "projects": {str(proj): {"mcpServers": {}}},
            }
        ),
    )
    return {"home": home, "claude": claude, "proj": proj, "other": other, "plug": plug}


_UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_SCENARIO = {"skill": "skill", "agent": "subagent", "mcp": "mcp_tool", "prompt": "hello"}


def transcript(w: dict[str, Path], n: int, scenario: str, cwd: Path, *swaps: tuple[str, str]) -> Path:
    """A copy of a real-client session (2.1.330) with fresh ids, run in `cwd`, with each of `swaps` replaced."""
    src = next((FIXTURES / "2.1.330" / _SCENARIO[scenario] / "projects").glob("*/*.jsonl"))
    sid = src.stem
    new_sid = f"{sid[:-6]}{n:06d}"
    folder = w["claude"] / "projects" / str(cwd).replace("/", "-").replace(".", "-")

    def rewrite(data: bytes) -> bytes:
        data = data.replace(sid.encode(), new_sid.encode()).replace(b"/home/dev/project", str(cwd).encode())
        for old, new in swaps:
            data = data.replace(old.encode(), new.encode())
        # Line uuids too: a slash command is keyed by its line's uuid, and copies sharing one count once.
        data = _UUID.sub(lambda m: m.group(0)[:-6] + b"%06d" % n, data)
        return rewrite_ids(data, n)

    target = folder / f"{new_sid}.jsonl"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(rewrite(src.read_bytes()))
    sub = src.parent / sid / "subagents"
    if sub.is_dir():
        for f in sub.iterdir():
            t = folder / new_sid / "subagents" / f.name
            t.parent.mkdir(parents=True, exist_ok=True)
            t.write_bytes(rewrite(f.read_bytes()))
    return target


@pytest.fixture
def world(tmp_path: Path, isolated_home: IsolatedHome, offline_tessl_registry: None) -> dict[str, Path]:
    w = build_home(isolated_home, tmp_path)
    p, o = w["proj"], w["other"]
    agent = '"subagent_type":"general-purpose"'
    prompt = '"content":"say hi"'
    sessions = [
        ("skill", p, ('"skill":"demo-skill"', '"skill":"plug:pskill"')),
        ("skill", o, ('"skill":"demo-skill"', '"skill":"uskill"')),
        ("agent", p, (agent, '"subagent_type":"reviewer"')),  # project and user define it: the project's
        ("agent", o, (agent, '"subagent_type":"reviewer"')),  # outside the project: the user's
        ("agent", p, (agent, '"subagent_type":"plug:pagent"')),
        ("agent", p, (agent, '"subagent_type":"no-such-agent"')),
        ("agent", p, None),  # general-purpose: Claude Code's own
        ("mcp", p, ("mcp__demo__", "mcp__db__")),
        ("mcp", p, ("mcp__demo__", "mcp__plugin_plug_pserver__")),
        ("mcp", o, ("mcp__demo__", "mcp__db__")),  # no .mcp.json there: unknown
        ("prompt", p, (prompt, '"content":"/deploy now"')),
        ("prompt", o, (prompt, '"content":"/deploy now"')),
        ("prompt", p, (prompt, '"content":"/plug:pcmd"')),
        ("prompt", p, (prompt, '"content":"/git:commit"')),
        ("prompt", p, (prompt, '"content":"/compact"')),
        ("prompt", p, (prompt, '"content":"/never-defined"')),
        ("prompt", o, (prompt, '"content":"/uskill"')),  # a skill typed as a command
    ]
    failed_result = '"tool_result","content":[{"type":"text","text":"echo: hello from mcp"}]}'
    sessions.append(
        (
            "mcp",
            p,
            ("mcp__demo__", "mcp__db__"),
            (failed_result, failed_result.replace('"content"', '"is_error":true,"content"')),
        )
    )
    for n, (scenario, cwd, *swaps) in enumerate(sessions, start=1):
        swaps = [s for s in swaps if s]
        path = transcript(w, n, scenario, cwd, *swaps)
        for swap in swaps:
            assert swap[1].encode() in path.read_bytes(), (scenario, swap)
    runner = CliRunner()
    for args in (["ingest"], ["scan", "--no-registry"]):
        r = runner.invoke(cli, args)
        assert r.exit_code == 0, r.output
    return w


def _sources(*args: str) -> dict:
    r = CliRunner().invoke(cli, ["usage", "sources", "--json", *args])
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


def _row(doc: dict, kind: str, name: str, source: str) -> dict:
    hits = [r for r in doc["rows"] if (r["kind"], r["name"], r["source"]) == (kind, name, source)]
    assert len(hits) == 1, (kind, name, source, [(r["kind"], r["name"], r["source"]) for r in doc["rows"]])
    return hits[0]


def test_every_call_is_attributed_to_its_source(world):
    doc = _sources()
    used = {(r["kind"], r["name"], r["source"]): r["invocations"] for r in doc["rows"] if r["invocations"]}
    expected = {
        ("skill", "plug:pskill", "plugin:plug@mkt"): 1,
        ("skill", "uskill", "user"): 2,
        ("agent", "reviewer", "project"): 1,
        ("agent", "reviewer", "user"): 1,
        ("agent", "plug:pagent", "plugin:plug@mkt"): 1,
        ("agent", "no-such-agent", "unknown"): 1,
        ("agent", "general-purpose", "builtin"): 1,
        ("mcp", "db", "project"): 2,
        ("mcp", "db", "unknown"): 1,
        ("mcp", "pserver", "plugin:plug@mkt"): 1,
        ("command", "deploy", "project"): 1,
        ("command", "deploy", "user"): 1,
        ("command", "plug:pcmd", "plugin:plug@mkt"): 1,
        ("command", "git:commit", "user"): 1,
        ("command", "compact", "builtin"): 1,
        ("command", "never-defined", "unknown"): 1,
    }
    assert {k: v for k, v in used.items() if k[0] != "tool"} == expected
    # Claude Code's own tools are builtin; the Skill/Agent/MCP calls are not counted again as tools.
    tools = {r["name"]: r["source"] for r in doc["rows"] if r["kind"] == "tool"}
    assert tools.get("Bash") == "builtin"
    assert not {"Skill", "Agent", "Task"} & set(tools) and not any(t.startswith("mcp__") for t in tools)


def test_rows_carry_sessions_tokens_and_context_cost(world):
    doc = _sources()
    reviewer = _row(doc, "agent", "reviewer", "project")
    assert reviewer["sessions"] == 1 and reviewer["installed"] is True and reviewer["last_used"]
    # The subagent's own responses come after its call and before the next prompt: they count.
    assert reviewer["tokens"] > 0
    assert reviewer["always_loaded_tokens"] == len("- reviewer: Reviews code for this project.\n") // 4 + 1
    pskill = _row(doc, "skill", "plug:pskill", "plugin:plug@mkt")
    assert pskill["tokens"] > 0 and pskill["always_loaded_tokens"] > 0
    unknown = _row(doc, "agent", "no-such-agent", "unknown")
    assert unknown["installed"] is False and unknown["always_loaded_tokens"] is None
    # MCP servers: uses and failed calls counted, schema cost unknown
    db_row = _row(doc, "mcp", "db", "project")
    assert (db_row["invocations"], db_row["errors"], db_row["always_loaded_tokens"]) == (2, 1, None)
    assert "unknown" in doc["mcp_schema_cost"]
    by_source = {s["source"]: s for s in doc["always_loaded"]["by_source"]}
    assert by_source["plugin:plug@mkt"]["kinds"] == {"skill": 1, "agent": 1, "command": 1, "mcp": 1}
    assert doc["always_loaded"]["tokens"] == sum(s["always_loaded_tokens"] for s in by_source.values()) > 0


def test_never_used_items_are_rows_with_zero_and_their_cost(world):
    doc = _sources()
    never = {(n["kind"], n["name"], n["source"]): n for n in doc["never_used"]}
    assert ("agent", "idle-agent", "user") in never
    assert ("command", "idle-cmd", "user") in never
    assert ("mcp", "web", "project") in never and ("mcp", "usrv", "user") in never
    idle = never[("agent", "idle-agent", "user")]
    assert idle["note"] == f"unused, costs ~{idle['always_loaded_tokens']} tokens per session"
    assert "not known" in never[("mcp", "web", "project")]["note"]
    row = _row(doc, "agent", "idle-agent", "user")
    assert (row["invocations"], row["sessions"], row["tokens"], row["last_used"]) == (0, 0, 0, None)
    # used ones are not in the list
    assert ("agent", "reviewer", "project") not in never and ("command", "deploy", "user") not in never


def test_kind_filter_by_day_and_dates(world):
    doc = _sources("--kind", "command")
    assert doc["rows"] and {r["kind"] for r in doc["rows"]} == {"command"}
    day = _sources("--by-day", "--kind", "agent")
    assert all(r["date"] for r in day["rows"]) and sum(r["invocations"] for r in day["rows"]) == 5
    assert _sources("--until", "2000-01-01")["rows"][0]["invocations"] == 0  # nothing captured that early
    in_project = _sources("--project", str(world["proj"]), "--kind", "agent")
    assert {(r["name"], r["source"]) for r in in_project["rows"] if r["invocations"]} == {
        ("reviewer", "project"),
        ("plug:pagent", "plugin:plug@mkt"),
        ("no-such-agent", "unknown"),
        ("general-purpose", "builtin"),
    }
    r = CliRunner().invoke(cli, ["usage", "sources", "--kind", "widget"])
    assert r.exit_code != 0 and "widget" in r.output
    r = CliRunner().invoke(cli, ["usage", "daily", "--kind", "skill"])
    assert r.exit_code != 0 and "usage sources" in r.output
    r = CliRunner().invoke(cli, ["usage", "sources"])
    assert r.exit_code == 0 and "idle-agent" in r.output and "unused, costs ~" in r.output


def test_attribution_follows_the_inventory_without_rereading_transcripts(world):
    """A definition removed and a scan run again: the same stored events resolve afresh."""
    before = _sources()
    assert _row(before, "agent", "reviewer", "project")["invocations"] == 1
    (world["proj"] / ".claude" / "agents" / "reviewer.md").unlink()
    for f in (world["claude"] / "projects").rglob("*.jsonl"):
        f.chmod(0)  # the transcripts can't be read: attribution must not need them
    try:
        r = CliRunner().invoke(cli, ["scan", "--no-registry"])
        assert r.exit_code == 0, r.output
        after = _sources()
    finally:
        for f in (world["claude"] / "projects").rglob("*.jsonl"):
            f.chmod(0o600)
    assert _row(after, "agent", "reviewer", "user")["invocations"] == 2
    assert not [r for r in after["rows"] if (r["kind"], r["name"], r["source"]) == ("agent", "reviewer", "project")]


def test_no_mcp_secret_anywhere(world, tmp_path):
    out = tmp_path / "inventory.json"
    r = CliRunner().invoke(cli, ["scan", "--no-registry", "-o", str(out)])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["report", "-o", str(tmp_path / "report.html")])
    assert r.exit_code == 0, r.output
    texts = {
        "inventory": out.read_text(),
        "report": (tmp_path / "report.html").read_text(),
        "sources": json.dumps(_sources()),
    }
    db = sqlite3.connect(get_paths().database)
    try:
        dump = "\n".join(db.iterdump())
    finally:
        db.close()
    texts["store"] = dump
    inv = json.loads(texts["inventory"])
    servers = {(s["name"], s["source"]): s for s in inv["mcp_servers"]}
    assert set(servers) == {("db", "project"), ("web", "project"), ("pserver", "plugin:plug@mkt"), ("usrv", "user")}
    assert servers[("web", "project")]["url"] == "https://mcp.example"
    assert servers[("db", "project")]["command"] == "npx"
    for where, text in texts.items():
        for secret in SECRETS:
            assert secret not in text, (where, secret)
    assert "mcp.example" in texts["store"]  # the servers themselves were stored


def test_report_sources_section_shows_costs_and_never_used_escaped(world, tmp_path):
    hostile = '<img src=x onerror="alert(1)">'
    _agent(world["claude"] / "agents" / "evil.md", hostile, "An agent whose name is markup.")
    _md(world["claude"] / "commands" / "<i>bold.md", "---\ndescription: tagged name\n---\n")
    r = CliRunner().invoke(cli, ["scan", "--no-registry"])
    assert r.exit_code == 0, r.output
    out = tmp_path / "report.html"
    r = CliRunner().invoke(cli, ["report", "-o", str(out)])
    assert r.exit_code == 0, r.output
    html = out.read_text()
    start = html.index('<section id="sources"')
    section = html[start : html.index("</section>", start)]
    doc = _sources()
    total = doc["always_loaded"]["tokens"]
    assert f"about <strong>{total}</strong> tokens per session" in section
    for kind, name in (("agent", "idle-agent"), ("command", "idle-cmd"), ("mcp", "web")):
        n = next(x for x in doc["never_used"] if (x["kind"], x["name"]) == (kind, name))
        assert f'<span class="skill-name">{name}</span>' in section and str(escape(n["note"])) in section
    assert "plugin:plug@mkt" in section
    i = html.find(hostile)
    assert i < 0, html[i - 300 : i + 50]
    assert str(escape(hostile)) in section  # listed as never used, as text
    assert "&lt;i&gt;bold" in section and "<i>bold" not in html
