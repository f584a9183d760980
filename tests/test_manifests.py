"""The manifests the skills scan reads, through their pydantic models (collectors/skills/manifests.py): every
mistyped value of every manifest is still one `manifest_invalid` finding with the scan's wording, the rest of
the manifest is kept, and the shipped JSON Schemas are the ones the models give. Real files in tmp_path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from skill_insights.collectors.skills import scan
from skill_insights.collectors.skills.manifests import SCHEMA_DIR, SCHEMAS, McpServer, checked, schema_text
from skill_insights.schemas.validate import SchemaError, validate


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("SKILL_INSIGHTS_HOME", str(tmp_path / "si"))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(home / ".claude"))
    monkeypatch.delenv("SKILL_INSIGHTS_TESSL_REGISTRY_URL", raising=False)
    return {"home": home, "claude": home / ".claude", "root": tmp_path / "root", "tmp": tmp_path}


def write(p: Path, doc: Any) -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(doc))
    return p


def skill(d: Path, name: str) -> None:
    d.mkdir(parents=True, exist_ok=True)
    (d / "SKILL.md").write_text(f"---\nname: {name}\ndescription: Does {name}. Use when testing.\n---\n# {name}\n")


def invalid(doc: dict[str, Any], path: Path) -> list[str]:
    return [f["message"] for f in doc["findings"] if f["code"] == "manifest_invalid" and f.get("path") == str(path)]


def test_a_mistyped_tessl_json_keeps_its_good_values(env: dict[str, Path]) -> None:
    proj = env["root"] / "proj"
    man = write(
        proj / "tessl.json",
        {
            "name": 7,
            "mode": "managed",
            "dependencies": {
                "ws/a": {"version": "1.0.0"},
                "ws/b": "2.0.0",
                "ws/c": [1],
                "ws/d": {"version": False},
                "ws/e": None,
            },
            "unknown": {"kept": "out"},
        },
    )
    doc = scan([proj], agent_dirs=False)
    assert invalid(doc, man) == ["tessl.json: ignored: name is a number, not a string (and 2 more)"]
    (m,) = doc["manifests"]
    assert m["name"] is None and m["mode"] == "managed"
    assert m["dependencies"] == {
        "ws/a": {"version": "1.0.0"},
        "ws/b": {"version": "2.0.0"},
        "ws/d": {"version": None},  # its bad version dropped, the entry kept
        "ws/e": {"version": None},
    }  # ws/c, a list, is no entry
    assert "unknown" not in m


def test_a_mistyped_tile_json_names_the_first_problem_in_document_order(env: dict[str, Path]) -> None:
    tile = env["root"] / "tiles" / "ws" / "t"
    man = write(
        tile / "tile.json",
        {
            "name": "ws/t",
            "version": "1.2.0",
            "summary": ["x"],
            "description": "A tile.",
            "skills": {"good": {"path": "skills/good"}, "bad": 3, "nul": "a\u0000b", "obj": {"path": 4}},
            "steering": ["not", "an", "object"],
            "private": "yes",
        },
    )
    skill(tile / "skills" / "good", "good")
    doc = scan([env["root"]], agent_dirs=False)
    assert invalid(doc, man) == ["tile.json: ignored: summary is a list, not a string (and 5 more)"]
    (m,) = doc["manifests"]
    assert (m["name"], m["version"], m["summary"]) == ("ws/t", "1.2.0", "A tile.")
    assert m["skills"] == {"good": "skills/good", "nul": None, "obj": None}
    assert m["steering"] == [] and "private" not in m
    (g,) = doc["skills"]
    assert g["locations"][0]["tile"]["name"] == "ws/t"


@pytest.mark.parametrize(
    ("skills", "message"),
    [
        (7, "skills is a number, not an object or a list"),
        (["skills/a", 5], "skills[1] is a number, not a string"),
        (["a\u0000b"], "skills[0] holds a NUL byte"),
        ({"x": True}, "a skills entry is a boolean, not an object or a string"),
        ({"x": {"path": "a\u0000"}}, "skills entry path holds a NUL byte"),
    ],
)
def test_each_mistyped_tessl_plugin_skills_value_is_its_own_message(
    env: dict[str, Path], skills: Any, message: str
) -> None:
    man = write(env["root"] / "p" / ".tessl-plugin" / "plugin.json", {"name": "ws/p", "skills": skills})
    doc = scan([env["root"]], agent_dirs=False)
    assert invalid(doc, man) == [f"tessl-plugin: ignored: {message}"]
    assert [m["name"] for m in doc["manifests"]] == ["ws/p"]


def test_a_mistyped_marketplace_and_plugin_json(env: dict[str, Path]) -> None:
    mkt = env["root"] / "mkt"
    man = write(
        mkt / ".claude-plugin" / "marketplace.json",
        {
            "name": "acme",
            "plugins": [
                {"name": "one", "source": "./plugins/one", "version": 1, "skills": "./extra/"},
                {"name": "two", "source": "./plugins/two", "skills": ["./s", None, "x\u0000"]},
                {"name": ["x"], "source": "./plugins/nameless"},
                {"name": "three", "source": {"source": "github", "repo": "o/r"}, "skills": {"a": 1}},
            ],
        },
    )
    plugin = write(mkt / "plugins" / "one" / ".claude-plugin" / "plugin.json", {"name": "one", "description": 5})
    skill(mkt / "plugins" / "one" / "skills" / "s1", "s1")
    doc = scan([env["root"]], agent_dirs=False)
    first = "plugins[0].version is a number, not a string"
    assert invalid(doc, man) == [f"claude-marketplace: ignored: {first} (and 3 more)"]
    assert invalid(doc, plugin) == ["claude-plugin: ignored: description is a number, not a string"]
    (m,) = [m for m in doc["manifests"] if m["kind"] == "claude-marketplace"]
    assert m["plugins"] == [
        {"name": "one", "source": "./plugins/one", "version": None, "skills": ["./extra/"]},
        {"name": "two", "source": "./plugins/two", "version": None, "skills": ["./s"]},
        {"name": "three", "source": None, "version": None, "skills": []},
    ]
    (s1,) = doc["skills"]
    assert s1["locations"][0]["plugin"]["name"] == "one"


def test_a_mistyped_installed_plugins_json_drops_only_its_bad_records(env: dict[str, Path]) -> None:
    claude = env["claude"]
    good = claude / "plugins" / "cache" / "mkt" / "p" / "1.0.0"
    write(good / ".claude-plugin" / "plugin.json", {"name": "p", "version": "1.0.0"})
    skill(good / "skills" / "ps", "ps")
    ip = write(
        claude / "plugins" / "installed_plugins.json",
        {
            "version": 2,
            "plugins": {
                "p@mkt": [{"installPath": str(good), "version": "1.0.0", "scope": 3}, "junk"],
                "q@mkt": {"installPath": "a\u0000b", "lastUpdated": ["x"]},
                "r@mkt": 5,
            },
        },
    )
    doc = scan([], agent_dirs=True, home=env["home"], claude_dir=claude)
    assert invalid(doc, ip) == ["installed_plugins.json: ignored: a scope is a number, not a string (and 4 more)"]
    (rec,) = [m for m in doc["manifests"] if m["kind"] == "installed_plugins"]
    assert rec["plugins"] == [
        {"plugin": "p@mkt", "install_path": str(good), "version": "1.0.0", "scope": None, "last_updated": None},
        {"plugin": "q@mkt", "install_path": None, "version": None, "scope": None, "last_updated": None},
    ]
    (ps,) = doc["skills"]
    assert ps["locations"][0]["installed"] is True


def test_installed_plugins_whose_plugins_is_no_object_leaves_installed_unknown(env: dict[str, Path]) -> None:
    claude = env["claude"]
    ip = write(claude / "plugins" / "installed_plugins.json", {"plugins": "all of them"})
    write(claude / "plugins" / "cache" / "mkt" / "p" / "1.0.0" / ".claude-plugin" / "plugin.json", {"name": "p"})
    skill(claude / "plugins" / "cache" / "mkt" / "p" / "1.0.0" / "skills" / "ps", "ps")
    doc = scan([], agent_dirs=True, home=env["home"], claude_dir=claude)
    assert invalid(doc, ip) == ["installed_plugins.json: plugins is a string, not an object"]
    (ps,) = doc["skills"]
    assert ps["locations"][0]["installed"] is None


def test_mistyped_mcp_servers_are_findings_and_never_keep_env_or_headers(env: dict[str, Path]) -> None:
    proj = env["tmp"] / "proj"
    mcp = write(
        proj / ".mcp.json",
        {
            "mcpServers": {
                "ok": {"command": "npx srv --token SECRET1", "env": {"K": "SECRET2"}, "type": 5},
                "web": {"url": "https://h.example/mcp?k=SECRET3", "headers": {"A": "SECRET4"}},
                "bad": "npx other",
                "": {"command": "nameless"},
            }
        },
    )
    write(env["claude"] / ".claude.json", {"mcpServers": ["a", "list"]})
    doc = scan([], agent_dirs=True, home=env["home"], claude_dir=env["claude"], project_dirs=[proj])
    assert invalid(doc, mcp) == ["mcpServers: ignored: server 'bad' is a string, not an object"]
    assert invalid(doc, env["claude"] / ".claude.json") == ["mcpServers is a list, not an object"]
    servers = {s["name"]: (s["transport"], s["command"], s["url"]) for s in doc["mcp_servers"]}
    assert servers == {"ok": ("stdio", "npx", None), "web": ("http", None, "https://h.example")}
    assert "SECRET" not in json.dumps(doc)
    assert "env" not in McpServer.model_fields and "headers" not in McpServer.model_fields


def test_checked_removes_what_does_not_fit_and_reports_in_document_order() -> None:
    from skill_insights.collectors.skills.manifests import ClaudeMarketplace

    data: dict[str, Any] = {"plugins": [{"name": 1}, 2, {"name": "ok", "skills": ["a", 3, "b", 4]}]}
    m, problems = checked(ClaudeMarketplace, data)
    assert [p.text for p in problems] == [
        "plugins[0].name is a number, not a string",
        "plugins[1] is a number, not an object",
        "plugins[2].skills[1] is a number, not a string",
        "plugins[2].skills[3] is a number, not a string",
    ]
    assert data == {"plugins": [{}, {"name": "ok", "skills": ["a", "b"]}]}
    assert m.plugins is not None and m.plugins[1].skills == ["a", "b"]


@pytest.mark.parametrize("name", list(SCHEMAS))
def test_the_shipped_manifest_schemas_are_the_models(name: str) -> None:
    # Regenerate with: python -m skill_insights.collectors.skills.manifests
    assert (SCHEMA_DIR / f"{name}.schema.json").read_text(encoding="utf-8") == schema_text(name)


def test_the_schemas_take_real_manifests_and_refuse_mistyped_ones() -> None:
    validate({"name": "ws/t", "version": "1.0.0", "skills": {"a": {"path": "skills/a"}, "b": "b"}}, "manifest_tile")
    validate({"name": "ws/p", "skills": ["./skills/a"], "extra": 1}, "manifest_tile")
    validate({"dependencies": {"ws/a": {"version": "1.0.0"}, "ws/b": "2.0.0"}}, "manifest_tessl")
    validate(
        {"plugins": [{"name": "a", "source": {"source": "github"}, "skills": "./x/"}]}, "manifest_claude_marketplace"
    )
    validate({"version": 2, "plugins": {"p@m": [{"installPath": "/x", "scope": "user"}]}}, "manifest_installed_plugins")
    validate({"mcpServers": {"s": {"command": "x", "env": {"K": "v"}}}}, "manifest_mcp")
    for doc, name in [
        ({"skills": 7}, "manifest_tile"),
        ({"skills": ["a\u0000b"]}, "manifest_tile"),
        ({"private": "yes"}, "manifest_tile"),
        ({"dependencies": {"ws/a": [1]}}, "manifest_tessl"),
        ({"plugins": [{"source": 5}]}, "manifest_claude_marketplace"),
        ({"plugins": {"p@m": 5}}, "manifest_installed_plugins"),
        ({"description": 1}, "manifest_claude_plugin"),
    ]:
        with pytest.raises(SchemaError):
            validate(doc, name)


NO_PYDANTIC = textwrap.dedent("""
    import sys
    from pathlib import Path
    from skill_insights.collectors.skills import scan
    doc = scan([Path(sys.argv[1])], agent_dirs=False)
    print(len(doc["skills"]), "pydantic" in sys.modules)
""")


def test_a_scan_without_manifests_never_imports_pydantic(env: dict[str, Path]) -> None:
    # The models load only when a manifest is met: a tree of plain skills pays nothing for them.
    skill(env["root"] / "a", "a")
    run = [sys.executable, "-c", NO_PYDANTIC, str(env["root"])]
    out = subprocess.run(run, capture_output=True, text=True, timeout=60, env=dict(os.environ), check=True)
    assert out.stdout.split() == ["1", "False"]
    write(env["root"] / "tessl.json", {"dependencies": {}})
    out = subprocess.run(run, capture_output=True, text=True, timeout=60, env=dict(os.environ), check=True)
    assert out.stdout.split() == ["1", "True"]
