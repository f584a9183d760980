"""Skills inventory: every agent's layout in a throwaway HOME, real files and symlinks; what is found,
collapsed and refused; the schema, the store and its diff; the CLI."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from skill_insights.cli import cli
from skill_insights.collectors.skills import scan
from skill_insights.schemas.validate import SchemaError, validate

SECRET = "TOP-SECRET-OUTSIDE-THE-SKILL\n"
BOMB = """---
name: bomb
description: billion laughs
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: [*f,*f,*f,*f,*f,*f,*f,*f,*f]
---
boom
"""


def skill(
    d: Path,
    name: str,
    description: str = "Does things. Use when testing.",
    body: str = "# Body\n",
    extra: dict[str, str] | None = None,
    frontmatter: str | None = None,
) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    fm = frontmatter if frontmatter is not None else f"---\nname: {name}\ndescription: {description}\n---\n"
    (d / "SKILL.md").write_text(fm + body)
    for rel, text in (extra or {}).items():
        (d / rel).parent.mkdir(parents=True, exist_ok=True)
        (d / rel).write_text(text)
    return d


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("SKILL_INSIGHTS_HOME", str(tmp_path / "si"))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(home / ".claude"))
    monkeypatch.setenv("SKILL_INSIGHTS_TESSL_REGISTRY_URL", "http://127.0.0.1:9")  # discard port: offline
    return {"home": home, "tmp": tmp_path, "claude": home / ".claude"}


def build_world(env: dict[str, Path]) -> dict[str, Path]:
    """User dirs of every agent, a Claude plugin, a project with Tessl tiles, links, a loop and hostile skills."""
    home, claude, tmp = env["home"], env["claude"], env["tmp"]
    (tmp / "outside").mkdir()
    secret = tmp / "outside" / "secret.txt"
    secret.write_text(SECRET)

    shared = {"scripts/run.sh": "echo hi\n", "references/guide.md": "# Guide\n"}
    body = "See [the guide](references/guide.md) and run `scripts/run.sh`.\n"
    skill(claude / "skills" / "alpha", "alpha", body=body, extra=shared)
    skill(home / ".agents" / "skills" / "alpha", "alpha", body=body, extra=shared)  # a vendored copy
    skill(home / ".codex" / "skills" / "codex-only", "codex-only")
    skill(home / ".copilot" / "skills" / "copilot-one", "copilot-one")
    skill(home / ".gemini" / "skills" / "gemini-one", "gemini-one")
    skill(home / ".config" / "opencode" / "skills" / "opencode-one", "opencode-one")
    skill(home / ".cursor" / "skills" / "cursor-one", "cursor-one")
    skill(home / ".codeium" / "windsurf" / "skills" / "windsurf-one", "windsurf-one")
    skill(home / ".config" / "amp" / "skills" / "amp-one", "amp-one")
    skill(claude / "skills" / "shared-name", "shared-name", body="user version\n")

    # A Claude Code plugin, installed, plus a stale cached version that is not.
    plug = claude / "plugins" / "cache" / "mkt" / "plug" / "1.0.0"
    (plug / ".claude-plugin").mkdir(parents=True)
    (plug / ".claude-plugin" / "plugin.json").write_text(json.dumps({"name": "plug", "version": "1.0.0"}))
    skill(plug / "skills" / "pskill", "pskill")
    old = claude / "plugins" / "cache" / "mkt" / "plug" / "0.9.0"
    skill(old / "skills" / "pskill", "pskill", body="old body\n")
    (claude / "plugins" / "installed_plugins.json").write_text(
        json.dumps(
            {"version": 2, "plugins": {"plug@mkt": [{"scope": "user", "installPath": str(plug), "version": "1.0.0"}]}}
        )
    )

    # A project: Claude + Copilot project skills, a Tessl tile linked in as tessl__tskill, junk dirs.
    proj = tmp / "work" / "proj"
    skill(proj / ".claude" / "skills" / "gamma", "gamma")
    skill(proj / ".claude" / "skills" / "shared-name", "shared-name", body="project version\n")
    skill(proj / ".github" / "skills" / "gh-skill", "gh-skill")
    tile = proj / ".tessl" / "tiles" / "ws" / "tile"
    tile.mkdir(parents=True)
    (tile / "tile.json").write_text(
        json.dumps(
            {
                "name": "ws/tile",
                "version": "1.0.0",
                "summary": "A tile",
                "skills": {"tskill": {"path": "skills/tskill/SKILL.md"}},
            }
        )
    )
    skill(tile / "skills" / "tskill", "tskill")
    (proj / "tessl.json").write_text(
        json.dumps({"mode": "vendored", "dependencies": {"ws/tile": {"version": "1.0.0"}}})
    )
    os.symlink("../../.tessl/tiles/ws/tile/skills/tskill", proj / ".claude" / "skills" / "tessl__tskill")
    skill(proj / "node_modules" / "dep" / "skills" / "ignored", "ignored")
    skill(proj / ".git" / "skills" / "ignored-too", "ignored-too")
    os.symlink(".", proj / ".claude" / "skills" / "loop")  # a symlink loop back into the skills dir
    os.symlink("self", proj / ".claude" / "skills" / "self")  # a link to itself: ELOOP

    # Hostile: links out of the root, an absolute path, a symlink to a secret outside.
    hostile = skill(
        proj / ".claude" / "skills" / "hostile",
        "hostile",
        body=f"Read [passwd](../../../../etc/passwd), ../../outside/secret.txt and [abs]({secret}).\n"
        "Also [inside link](leak.txt).\n",
    )
    os.symlink(secret, hostile / "leak.txt")
    skill(proj / ".claude" / "skills" / "bomb", "bomb", frontmatter="", body=BOMB)
    skill(proj / ".claude" / "skills" / "broken-yaml", "x", frontmatter="---\nname: [unclosed\n---\n")
    return {"proj": proj, "secret": secret, "plug": plug, "tile": tile}


def by_name(doc: dict, name: str) -> list[dict]:
    return [s for s in doc["skills"] if s["name"] == name]


def test_scan_finds_every_agent_collapses_copies_and_refuses_escapes(env):
    w = build_world(env)
    doc = scan([w["proj"]])
    validate(doc, "inventory")
    names = {s["name"] for s in doc["skills"]}
    agents = {loc["agent"] for s in doc["skills"] for loc in s["locations"]}
    assert {
        "alpha",
        "codex-only",
        "copilot-one",
        "gemini-one",
        "opencode-one",
        "cursor-one",
        "windsurf-one",
        "amp-one",
        "pskill",
        "gamma",
        "gh-skill",
        "tskill",
        "hostile",
        "bomb",
    } <= names
    assert {
        "claude-code",
        "agents",
        "codex",
        "copilot",
        "gemini",
        "opencode",
        "cursor",
        "windsurf",
        "amp",
        "tessl",
    } <= agents
    assert "ignored" not in names and "ignored-too" not in names  # node_modules, .git

    # Vendored copy: one canonical skill, two locations, both real folders.
    [alpha] = by_name(doc, "alpha")
    assert {(loc["agent"], loc["scope"]) for loc in alpha["locations"]} == {("claude-code", "user"), ("agents", "user")}
    assert {f["path"] for f in alpha["files"]} == {"SKILL.md", "scripts/run.sh", "references/guide.md"}
    assert all(f["sha256"] for f in alpha["files"])
    assert [lk["status"] for lk in alpha["links"]] == ["ok", "ok"]

    # The tessl__ link and the tile folder are one skill; the link knows it is a link into the tile.
    [tskill] = by_name(doc, "tskill")
    link = next(loc for loc in tskill["locations"] if loc["is_link"])
    assert link["dir_name"] == "tessl__tskill" and link["scope"] == "project" and link["tile"]["name"] == "ws/tile"
    assert "tessl__tskill" in tskill["names"]
    assert any(loc["scope"] == "tile" and not loc["is_link"] for loc in tskill["locations"])

    # Plugin skills: namespaced; the stale cached version is listed but not installed.
    pskills = by_name(doc, "pskill")
    assert len(pskills) == 2
    live = next(s for s in pskills if any(loc["installed"] for loc in s["locations"]))
    assert "plug:pskill" in live["names"] and live["locations"][0]["plugin"]["name"] == "plug"
    stale = next(s for s in pskills if s is not live)
    assert stale["locations"][0]["installed"] is False

    # Same name, different content: two skills, not collapsed.
    assert len(by_name(doc, "shared-name")) == 2

    # Hostile: every escape is a finding, and the secret was never read.
    [hostile] = by_name(doc, "hostile")
    codes = [f["code"] for f in hostile["findings"]]
    assert codes.count("link_escapes_root") == 2 and "link_absolute" in codes and "symlink_outside" in codes
    leak = next(f for f in hostile["files"] if f["path"] == "leak.txt")
    assert leak["sha256"] is None and leak["outside"] is True
    secret_hash = hashlib.sha256(SECRET.encode()).hexdigest()
    assert secret_hash not in json.dumps(doc) and SECRET.strip() not in json.dumps(doc)

    # The YAML bomb is refused as a finding; a broken frontmatter too; the scan went on.
    [bomb] = [s for s in doc["skills"] if s["locations"][0]["dir_name"] == "bomb"]
    assert [f["code"] for f in bomb["findings"]] == ["frontmatter_aliases"] and bomb["frontmatter"] is None
    [broken] = [s for s in doc["skills"] if s["locations"][0]["dir_name"] == "broken-yaml"]
    assert "frontmatter_invalid_yaml" in [f["code"] for f in broken["findings"]]

    # The link to itself is a loop finding; `loop -> .` is not walked twice (no duplicate gamma).
    assert any(f["code"] == "symlink_loop" for f in doc["findings"])
    assert len(by_name(doc, "gamma")) == 1 and len(by_name(doc, "gamma")[0]["locations"]) == 1

    # Manifests: the tile, tessl.json (vendored, its dependency), the plugin, installed_plugins.
    kinds = {m["kind"]: m for m in doc["manifests"]}
    assert {"tile.json", "tessl.json", "claude-plugin", "installed_plugins"} <= set(kinds)
    assert kinds["tessl.json"]["mode"] == "vendored"
    assert kinds["tile.json"]["skills"] == {"tskill": "skills/tskill/SKILL.md"}
    assert tskill["id"] in kinds["tile.json"]["skill_ids"]


def test_no_agent_dirs_scans_only_roots(env):
    w = build_world(env)
    doc = scan([w["proj"]], agent_dirs=False)
    assert {loc["scope"] for s in doc["skills"] for loc in s["locations"]} == {"project", "tile"}
    assert not by_name(doc, "alpha")


def test_skill_inside_skill_is_its_own_skill(env):
    root = env["tmp"] / "repo"
    outer = skill(root / ".claude" / "skills" / "outer", "outer", extra={"notes.md": "n\n"})
    skill(outer / "inner", "inner")
    doc = scan([root], agent_dirs=False)
    [o] = by_name(doc, "outer")
    [i] = by_name(doc, "inner")
    assert {f["path"] for f in o["files"]} == {"SKILL.md", "notes.md"}
    assert i["locations"][0]["path"].endswith(os.path.join("outer", "inner"))


def test_schema_failure_names_the_path(env):
    w = build_world(env)
    doc = scan([w["proj"]], agent_dirs=False)
    doc["skills"][0]["locations"][0]["scope"] = "galaxy"
    with pytest.raises(SchemaError) as e:
        validate(doc, "inventory")
    assert e.value.path == "$.skills[0].locations[0].scope"
    # Published, it is neither written nor stored, in a child or here.
    from skill_insights.collectors.skills.output import publish
    from skill_insights.store import open_reader

    db = open_reader(env["tmp"] / "store.db")
    for background in (True, False):
        out = env["tmp"] / f"inv-{background}.json"
        with pytest.raises(SchemaError) as again:
            publish(doc, lambda: db, out, background=background)
        assert again.value.path == e.value.path
        assert not out.exists() and not list(env["tmp"].glob(".tmp-*"))
        assert db.execute("SELECT count(*) FROM scans").fetchone()[0] == 0
    # The scan's check, in a forked child or here, gives the same verdict, as often as it is asked.
    from skill_insights.schemas.validate import SchemaCheck

    for background in (True, False):
        check = SchemaCheck(doc, "inventory", background=background)
        for _ in range(2):
            with pytest.raises(SchemaError) as again:
                check.wait()
            assert (again.value.path, again.value.message) == (e.value.path, e.value.message)
    doc["skills"][0]["locations"][0]["scope"] = "project"
    SchemaCheck(doc, "inventory", background=True).wait()  # valid: no error
    del doc["schema_version"]
    with pytest.raises(SchemaError, match="schema_version"):
        validate(doc, "inventory")


def test_cli_scan_writes_validated_json_stores_and_diffs(env):
    w = build_world(env)
    runner = CliRunner()
    out = env["tmp"] / "inv.json"
    r = runner.invoke(cli, ["scan", str(w["proj"]), "-o", str(out)])
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    validate(doc, "inventory")
    assert doc["schema_version"] == "1.0" and "since the last scan" not in r.output

    # Change one skill, remove one, add one: the next scan says so, and the store keeps the history.
    (w["proj"] / ".claude" / "skills" / "gamma" / "SKILL.md").write_text("---\nname: gamma\ndescription: New.\n---\n")
    import shutil

    shutil.rmtree(w["proj"] / ".github" / "skills" / "gh-skill")
    skill(w["proj"] / ".claude" / "skills" / "delta", "delta")
    r = runner.invoke(cli, ["scan", str(w["proj"])])
    assert r.exit_code == 0, r.output
    assert "1 added, 1 removed, 1 changed" in r.output

    from skill_insights.collectors.skills.store import latest_inventory, recent_changes
    from skill_insights.settings import get_paths
    from skill_insights.store import open_db

    db = open_db(get_paths().database)
    changes = {(c["change"], c["name"]) for c in recent_changes(db) if c["scan_id"] == 2}
    assert changes == {("added", "delta"), ("removed", "gh-skill"), ("changed", "gamma")}
    assert db.execute("SELECT count(*) FROM scans").fetchone()[0] == 2
    latest = latest_inventory(db)
    assert latest is not None and by_name(latest, "delta")
    n_loc = db.execute("SELECT count(*) FROM skill_locations").fetchone()[0]
    assert n_loc == sum(len(s["locations"]) for s in latest["skills"])
    assert (
        db.execute(
            "SELECT count(*) FROM skill_files WHERE skill_id = ?", [by_name(latest, "alpha")[0]["id"]]
        ).fetchone()[0]
        == 3
    )

    r = runner.invoke(cli, ["scan", str(w["proj"]), "--json", "--no-agent-dirs"])
    assert r.exit_code == 0 and json.loads(r.output)["skills"]


def test_cli_scan_rejects_missing_root_and_prints_schema(env):
    runner = CliRunner()
    r = runner.invoke(cli, ["scan", str(env["tmp"] / "nope")])
    assert r.exit_code != 0
    r = runner.invoke(cli, ["schema", "inventory"])
    assert r.exit_code == 0
    schema = json.loads(r.output)
    assert schema["$schema"].endswith("2020-12/schema") and "skills" in schema["required"]
    r = runner.invoke(cli, ["schema", "nope"])
    assert r.exit_code != 0 and "available" in r.output


def test_scan_covers_the_cwd_of_captured_sessions(env):
    proj = env["tmp"] / "elsewhere"
    skill(proj / ".claude" / "skills" / "from-session", "from-session")
    from skill_insights.settings import get_paths
    from skill_insights.store import open_db

    db = open_db(get_paths().ensure().database)
    db["sessions"].insert({"session_id": "s1", "project": str(proj)})
    db.conn.close()
    r = CliRunner().invoke(cli, ["scan", "--json", "--no-agent-dirs"])
    assert r.exit_code == 0, r.output
    [s] = by_name(json.loads(r.output), "from-session")
    assert s["locations"][0]["scope"] == "project" and s["locations"][0]["project_root"] == str(proj)


def test_symlink_to_a_file_inside_the_skill_is_listed_with_its_hash(env):
    # Regression: `_link` unpacked three of `_read_hash`'s four values, so any inside link crashed the scan.
    root = env["tmp"] / "repo"
    d = skill(root / ".claude" / "skills" / "linked", "linked", extra={"references/a.md": "# A\n"})
    os.symlink("references/a.md", d / "alias.md")
    r = CliRunner().invoke(cli, ["scan", str(root), "--json", "--no-agent-dirs", "--no-registry"])
    assert r.exit_code == 0, r.output
    [s] = by_name(json.loads(r.output), "linked")
    alias = next(f for f in s["files"] if f["path"] == "alias.md")
    assert alias["is_link"] is True and alias["size"] == 4
    assert alias["sha256"] == hashlib.sha256(b"# A\n").hexdigest()


def test_cli_scan_unwritable_output_is_one_line_error(env):
    # Regression: an -o whose folder can't be created was a FileNotFoundError/FileExistsError traceback.
    root = env["tmp"] / "repo"
    skill(root / ".claude" / "skills" / "one", "one")
    blocker = env["tmp"] / "a-file"
    blocker.write_text("not a folder\n")
    for out in (blocker / "inv.json", Path("/proc/no-such-pid/inv.json")):
        r = CliRunner().invoke(cli, ["scan", str(root), "--no-agent-dirs", "-o", str(out)])
        assert r.exit_code != 0 and isinstance(r.exception, SystemExit), r.exception
        assert "Traceback" not in r.output and len(r.output.strip().splitlines()) == 1, r.output
        assert "cannot write" in r.output


@pytest.mark.parametrize("kind", ["fifo", "dir", "empty"])
def test_cli_scan_refuses_an_output_that_is_not_a_regular_file(env, kind):
    # Regression: the tmp-then-rename write turned `-o /dev/full` (or a FIFO) into a regular file.
    root = env["tmp"] / "repo"
    skill(root / ".claude" / "skills" / "one", "one")
    out = env["tmp"] / "target"
    if kind == "fifo":
        os.mkfifo(out)
    elif kind == "dir":
        out.mkdir()
    r = CliRunner().invoke(
        cli, ["scan", str(root), "--no-agent-dirs", "--no-registry", "-o", "" if kind == "empty" else str(out)]
    )
    assert r.exit_code != 0 and isinstance(r.exception, SystemExit), r.exception
    assert "Traceback" not in r.output and len(r.output.strip().splitlines()) == 1, r.output
    if kind == "fifo":
        assert out.is_fifo()
    elif kind == "dir":
        assert out.is_dir() and not any(out.iterdir())
    assert not list(env["tmp"].glob("*.tmp"))


def test_publish_writes_the_file_when_the_store_fails(env):
    # The store can't be opened (its folder is a file): the -o file is still written, once the document
    # passed its schema, and the store's error is what the caller sees.
    from skill_insights.collectors.skills.output import publish
    from skill_insights.store import open_reader

    w = build_world(env)
    doc = scan([w["proj"]], agent_dirs=False)
    blocker = env["tmp"] / "not-a-folder"
    blocker.write_text("x\n")
    out = env["tmp"] / "inv.json"
    with pytest.raises(FileExistsError):
        publish(doc, lambda: open_reader(blocker / "store.db"), out, background=False)
    assert json.loads(out.read_text()) == json.loads(json.dumps(doc))
    # Invalid as well: the schema's verdict wins, and nothing is written.
    doc["skills"][0]["locations"][0]["scope"] = "galaxy"
    out.unlink()
    with pytest.raises(SchemaError):
        publish(doc, lambda: open_reader(blocker / "store.db"), out, background=False)
    assert not out.exists()
