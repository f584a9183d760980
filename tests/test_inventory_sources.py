"""The scan's agents, commands and MCP servers: every scope, names as Claude Code uses them, the inventory
schema, and the same safety rules as skills (no link followed out, no FIFO read, no secret kept)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from skill_insights.collectors.skills import scan
from skill_insights.collectors.skills.extras import mcp_record
from skill_insights.schemas.validate import is_valid


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    home = tmp_path / "home"
    claude = home / ".claude"
    claude.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(claude))
    monkeypatch.setenv("SKILL_INSIGHTS_HOME", str(tmp_path / "si"))
    return {"home": home, "claude": claude, "proj": tmp_path / "proj", "tmp": tmp_path}


def _scan(env: dict[str, Path]) -> dict:
    doc = scan(project_dirs=[env["proj"]] if env["proj"].is_dir() else [], home=env["home"], claude_dir=env["claude"])
    assert is_valid(doc, "inventory")
    return doc


def _by(doc: dict, key: str) -> dict[tuple[str, str], dict]:
    return {(it["name"], it["source"]): it for it in doc[key]}


def test_agent_frontmatter_and_command_namespaces(env):
    _write(
        env["claude"] / "agents" / "rev.md",
        "---\nname: reviewer\ndescription: Reviews diffs.\nmodel: opus\ntools: [Read, Grep]\n---\nbody\n",
    )
    _write(env["claude"] / "agents" / "bare.md", "no frontmatter at all\n")
    _write(env["claude"] / "agents" / "notes.txt", "not an agent")
    for i in range(2001):  # past the cap a folder's rest is a finding, not read
        _write(env["claude"] / "commands" / "bulk" / f"c{i:04d}.md", "x\n")
    _write(env["claude"] / "commands" / "a" / "b" / "c.md", "---\nargument-hint: <file>\n---\nDo c\n")
    _write(env["proj"] / ".claude" / "commands" / "fix.md", "# Fix the build\n\nsteps\n")
    doc = _scan(env)
    agents = _by(doc, "agents")
    rev = agents[("reviewer", "user")]
    assert (rev["description"], rev["model"], rev["tools"]) == ("Reviews diffs.", "opus", ["Read", "Grep"])
    assert rev["id"].startswith("ag_") and rev["always_loaded_tokens"] > 0
    bare = agents[("bare", "user")]  # the file's stem names it; no description is a finding
    assert [f["code"] for f in bare["findings"]] == ["description_missing"]
    assert set(agents) == {("reviewer", "user"), ("bare", "user")}
    cmds = _by(doc, "commands")
    assert cmds[("a:b:c", "user")]["argument_hint"] == "<file>"
    fix = cmds[("fix", "project")]
    assert fix["description"] == "Fix the build"  # no frontmatter: its first line describes it
    assert fix["locations"][0]["project_root"] == str(env["proj"])
    assert doc["stats"]["agents"] == 2 and doc["stats"]["commands"] == 2 + 2000
    assert "too_many_files" in {f["code"] for f in doc["findings"]}


def test_marketplace_plugin_brings_agents_commands_and_servers(env):
    mkt = env["claude"] / "plugins" / "marketplaces" / "acme"
    _write(
        mkt / ".claude-plugin" / "marketplace.json",
        json.dumps({"name": "acme", "plugins": [{"name": "tools", "source": "./plugins/tools"}]}),
    )
    root = mkt / "plugins" / "tools"
    _write(root / ".claude-plugin" / "plugin.json", json.dumps({"name": "tools"}))
    _write(root / "agents" / "helper.md", "---\nname: helper\ndescription: Helps.\n---\n")
    _write(root / "commands" / "ns" / "go.md", "---\ndescription: Go\n---\n")
    _write(root / ".mcp.json", json.dumps({"mcpServers": {"srv": {"command": "/opt/bin/srv --x"}}}))
    _write(
        env["claude"] / "plugins" / "installed_plugins.json",
        json.dumps({"version": 2, "plugins": {"tools@acme": [{"installPath": str(root)}]}}),
    )
    doc = _scan(env)
    assert ("tools:helper", "plugin:tools@acme") in _by(doc, "agents")
    assert ("tools:ns:go", "plugin:tools@acme") in _by(doc, "commands")
    srv = _by(doc, "mcp_servers")[("srv", "plugin:tools@acme")]
    assert (srv["transport"], srv["command"], srv["url"]) == ("stdio", "srv", None)
    assert srv["locations"][0]["plugin"]["installed"] is True


def test_user_and_per_project_servers_from_claude_json(env):
    env["proj"].mkdir()
    _write(
        env["claude"] / ".claude.json",
        json.dumps(
            {
                "mcpServers": {
                    "u": {
                        "type": "http",
                        "url": "https://api.example/mcp?token=SECRET1",
                        "headers": {"Authorization": "SECRET2"},
                    }
                },
                "projects": {
                    str(env["proj"]): {"mcpServers": {"p": {"command": "run", "env": {"K": "SECRET3"}}}},
                    "/elsewhere": {"mcpServers": {"x": {"command": "x"}}},
                },
            }
        ),
    )
    doc = _scan(env)
    servers = _by(doc, "mcp_servers")
    assert set(servers) == {("u", "user"), ("p", "project")}  # another project's servers are not this machine's
    assert servers[("u", "user")]["url"] == "https://api.example"
    text = json.dumps(doc)
    assert "SECRET" not in text


def test_mcp_record_keeps_only_its_allow_list():
    problems: list[str] = []
    rec = mcp_record(
        "s",
        {
            "command": "TOKEN=SECRET node server.js --key SECRET",
            "args": ["SECRET"],
            "env": {"A": "SECRET"},
            "headers": {"B": "SECRET"},
            "url": "http://user:SECRET@h:8080/mcp/SECRET/sse?k=SECRET#SECRET",
        },
        problems,
    )
    assert rec == {"kind": "mcp", "name": "s", "transport": "stdio", "command": "node", "url": "http://h:8080"}
    assert mcp_record("bad", ["not", "an", "object"], problems) is None and problems


def test_links_out_are_findings_and_never_read(env):
    outside = _write(env["tmp"] / "outside" / "secret.md", "---\ndescription: OUTSIDE-TEXT\n---\n")
    agents = env["claude"] / "agents"
    agents.mkdir()
    os.symlink(outside, agents / "sneaky.md")
    inside = _write(agents / "real.md", "---\ndescription: inside\n---\n")
    os.symlink(inside, agents / "alias.md")  # a link that stays in the folder is read
    os.symlink(env["tmp"] / "outside", env["claude"] / "commands")  # the folder itself may be a link
    _write(env["tmp"] / "outside" / "servers.json", json.dumps({"mcpServers": {"leak": {"command": "x"}}}))
    env["proj"].mkdir()
    (env["proj"] / ".mcp.json").symlink_to(env["tmp"] / "outside" / "servers.json")
    doc = _scan(env)
    text = json.dumps(doc)
    names = {a["name"] for a in doc["agents"]}
    assert names == {"real", "alias"} and "OUTSIDE-TEXT" not in json.dumps(doc["agents"])
    codes = {(f["code"], Path(f.get("path", "")).name) for f in doc["findings"]}
    assert ("symlink_outside", "sneaky.md") in codes
    assert any(c == "manifest_invalid" and n == ".mcp.json" for c, n in codes)
    assert "leak" not in text
    # A linked definitions folder (a dotfiles checkout) is read as that scope's own, like a linked skills dir.
    assert [c["name"] for c in doc["commands"]] == ["secret"]


def test_a_fifo_named_like_a_definition_does_not_hang_the_scan(env):
    agents = env["claude"] / "agents"
    agents.mkdir()
    os.mkfifo(agents / "fifo.md")
    env["proj"].mkdir()
    os.mkfifo(env["proj"] / ".mcp.json")
    os.mkfifo(env["claude"] / ".claude.json")
    done: dict[str, dict] = {}
    t = threading.Thread(target=lambda: done.setdefault("doc", _scan(env)), daemon=True)
    t.start()
    t.join(20)
    assert "doc" in done, "the scan blocked on a FIFO"
    doc = done["doc"]
    assert doc["agents"] == [] and doc["mcp_servers"] == []
    codes = {f["code"] for f in doc["findings"]}
    assert {"definition_unreadable", "manifest_invalid"} <= codes


def test_hostile_definitions_become_findings(env):
    _write(
        env["claude"] / "agents" / "bomb.md",
        "---\na: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
        "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n---\n",
    )
    _write(env["claude"] / "agents" / "big.md", "x" * (300 * 1024))
    _write(env["claude"] / "agents" / "bad.md", "---\nname: [unclosed\n---\n")
    env["proj"].mkdir()
    _write(env["proj"] / ".mcp.json", json.dumps({"mcpServers": ["not", "an", "object"]}))
    doc = _scan(env)
    by_name = _by(doc, "agents")
    assert by_name[("bomb", "user")]["findings"] and by_name[("bad", "user")]["findings"]
    assert ("big", "user") not in by_name
    codes = {f["code"] for f in doc["findings"]}
    assert {"definition_too_large", "manifest_invalid"} <= codes


def test_schema_refuses_a_server_with_env_or_headers():
    base = {"schema_version": "1.0", "generated_at": "2026-01-01T00:00:00Z", "roots": [], "skills": [], "manifests": []}
    server = {
        "id": "mc_0123456789abcdef",
        "name": "s",
        "source": "project",
        "transport": "stdio",
        "command": "x",
        "url": None,
        "locations": [{"path": "/p/.mcp.json", "scope": "project"}],
        "findings": [],
    }
    assert is_valid({**base, "mcp_servers": [server]}, "inventory")
    assert not is_valid({**base, "mcp_servers": [{**server, "env": {"K": "v"}}]}, "inventory")
    assert not is_valid({**base, "mcp_servers": [{**server, "headers": {"K": "v"}}]}, "inventory")
    assert not is_valid({**base, "mcp_servers": [{**server, "source": "somewhere"}]}, "inventory")


def test_a_scanned_root_counts_as_a_project(env, tmp_path):
    root = tmp_path / "repo"
    _write(root / ".claude" / "agents" / "a.md", "---\ndescription: A\n---\n")
    _write(root / ".mcp.json", json.dumps({"mcpServers": {"s": {"url": "http://127.0.0.1:1/mcp"}}}))
    doc = scan([root], home=env["home"], claude_dir=env["claude"])
    assert is_valid(doc, "inventory")
    assert [(a["name"], a["source"], a["locations"][0]["project_root"]) for a in doc["agents"]] == [
        ("a", "project", str(root))
    ]
    assert [(s["name"], s["transport"]) for s in doc["mcp_servers"]] == [("s", "http")]


def test_a_tessl_tile_brings_its_agents_and_commands(env):
    tile = env["proj"] / ".tessl" / "tiles" / "acme" / "kit"
    _write(tile / "tile.json", json.dumps({"name": "acme/kit", "version": "1.2.0", "skills": {}}))
    _write(tile / "agents" / "tiler.md", "---\ndescription: From a tile.\n---\n")
    _write(tile / "commands" / "tcmd.md", "Tile command\n")
    doc = _scan(env)
    assert ("tiler", "tile:acme/kit") in _by(doc, "agents")
    assert ("tcmd", "tile:acme/kit") in _by(doc, "commands")
    assert _by(doc, "agents")[("tiler", "tile:acme/kit")]["locations"][0]["scope"] == "tile"
