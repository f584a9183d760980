"""Catalog.resolve on a hand-made inventory: the order of scopes, which project a definition belongs to,
tiles, plugins' MCP names, builtins and unknowns."""

from __future__ import annotations

from skill_insights.analyzers.attribution import Catalog


def _skill(sid: str, name: str, *locs: dict) -> dict:
    return {"id": sid, "name": name, "description": f"{name} things", "locations": list(locs)}


def _loc(scope: str, path: str, names: list[str], **extra) -> dict:
    return {
        "path": path,
        "scope": scope,
        "agent": extra.pop("agent", "claude-code"),
        "names": names,
        "installed": extra.pop("installed", True),
        **extra,
    }


def _item(prefix: str, name: str, source: str, *locs: dict) -> dict:
    return {
        "id": f"{prefix}_{abs(hash((name, source))) % 10**16:016d}",
        "name": name,
        "source": source,
        "description": "d",
        "always_loaded_tokens": 3,
        "locations": list(locs),
        "findings": [],
    }


INVENTORY = {
    "skills": [
        _skill(
            "sk_a",
            "lint",
            _loc("project", "/w/app/.claude/skills/lint", ["lint"], project_root="/w/app"),
            _loc("project", "/w/app/sub/.claude/skills/lint", ["lint"], project_root="/w/app/sub"),
            _loc("user", "/h/.claude/skills/lint", ["lint"]),
            _loc("tile", "/w/app/.tessl/tiles/acme/kit/skills/lint", ["lint"], tile={"name": "acme/kit"}),
        ),
        _skill(
            "sk_b", "tiled", _loc("tile", "/w/.tessl/tiles/acme/kit/skills/tiled", ["tiled"], tile={"name": "acme/kit"})
        ),
        _skill(
            "sk_c",
            "old",
            _loc(
                "plugin",
                "/h/.claude/plugins/cache/m/p/0.9/skills/old",
                ["p:old"],
                plugin={"name": "p", "marketplace": "m"},
                installed=False,
            ),
        ),
        _skill("sk_d", "codexy", _loc("user", "/h/.codex/skills/codexy", ["codexy"], agent="codex")),
    ],
    "agents": [
        _item(
            "ag",
            "rev",
            "project",
            {"path": "/w/app/.claude/agents/rev.md", "scope": "project", "project_root": "/w/app"},
        ),
        _item("ag", "rev", "plugin:p@m", {"path": "/h/p/agents/rev.md", "scope": "plugin"}),
    ],
    "commands": [
        _item("cm", "p:go", "plugin:p@m", {"path": "/h/p/commands/go.md", "scope": "plugin", "plugin": {"name": "p"}}),
        _item("cm", "go", "user", {"path": "/h/.claude/commands/go.md", "scope": "user"}),
        _item(
            "cm", "p:only", "plugin:p@m", {"path": "/h/p/commands/only.md", "scope": "plugin", "plugin": {"name": "p"}}
        ),
    ],
    "mcp_servers": [
        _item(
            "mc",
            "srv",
            "plugin:p@m",
            {"path": "/h/p/.mcp.json", "scope": "plugin", "plugin": {"name": "p", "marketplace": "m"}},
        ),
        _item("mc", "my.docs", "user", {"path": "/h/.claude.json", "scope": "user"}),
    ],
}


def test_scope_order_and_project_roots():
    c = Catalog(INVENTORY)
    assert c.resolve("skill", "lint", "/w/app/src")[0] == "project"
    assert c.resolve("skill", "lint", "/w/app/sub/x")[1] == "sk_a@project"  # the nearest project root
    assert c.resolve("skill", "lint", "/w/application")[0] == "user"  # a sibling path is not inside /w/app
    assert c.resolve("skill", "lint", None)[0] == "user"
    assert c.resolve("skill", "tiled", "/anywhere")[0] == "tile:acme/kit"
    assert c.resolve("agent", "rev", "/w/app")[0] == "project"
    assert c.resolve("agent", "rev", "/w/other")[0] == "plugin:p@m"


def test_uninstalled_builtin_unknown_and_plugin_mcp_names():
    c = Catalog(INVENTORY)
    assert c.resolve("skill", "p:old", "/w") == ("unknown", None)  # a stale plugin version is not installed
    assert c.resolve("agent", "Explore", "/w") == ("builtin", None)
    assert c.resolve("agent", "explorer", "/w") == ("unknown", None)
    assert c.resolve("command", "clear", "/w") == ("builtin", None)
    assert c.resolve("command", "made-up", "/w") == ("unknown", None)
    assert c.resolve("command", "go", "/w")[0] == "user"  # the user's /go, not the plugin's p:go
    assert c.resolve("command", "p:go", "/w")[0] == "plugin:p@m"
    assert c.resolve("command", "only", "/w")[0] == "plugin:p@m"  # unambiguous: the plugin's
    assert c.resolve("tool", "Bash", "/w") == ("builtin", None)
    assert c.resolve("tool", "SomethingNew", "/w") == ("unknown", None)
    assert c.resolve("mcp", "plugin_p_srv", "/w")[0] == "plugin:p@m"
    assert c.resolve("mcp", "srv", "/w")[0] == "plugin:p@m"
    assert c.resolve("mcp", "my_docs", "/w")[0] == "user"  # "my.docs": the tool name writes the dot as _


def test_items_listed_are_the_ones_claude_code_loads():
    c = Catalog(INVENTORY)
    skills = {(it.name, it.source) for it in c.items.values() if it.kind == "skill"}
    # the codex-only skill is resolved when named, but it costs Claude Code nothing
    assert ("codexy", "user") not in skills
    assert {("lint", "project"), ("lint", "user"), ("lint", "tile:acme/kit"), ("tiled", "tile:acme/kit")} <= skills
    assert all(it.always_loaded_tokens is None for it in c.items.values() if it.kind == "mcp")
    assert Catalog(None).resolve("skill", "lint", "/w") == ("unknown", None)
