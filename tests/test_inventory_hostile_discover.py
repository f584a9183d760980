"""Hostile files met during discovery: FIFOs named like manifests, manifests of every wrong shape, names that
are not UTF-8, and a registry or registry cache that answers garbage. Real trees (files, FIFOs, symlinks);
each must end as a finding, never a hang or a traceback, with the rest of the scan intact."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from test_analyzers_support import Request, serve

from skill_insights.cli import cli
from skill_insights.collectors.skills import scan
from skill_insights.collectors.skills.tessl import TesslRegistry, is_behind
from skill_insights.schemas.validate import validate


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("SKILL_INSIGHTS_HOME", str(tmp_path / "si"))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(home / ".claude"))
    monkeypatch.delenv("SKILL_INSIGHTS_TESSL_REGISTRY_URL", raising=False)  # no registry unless a test says
    return {"home": home, "tmp": tmp_path, "claude": home / ".claude", "root": tmp_path / "root"}


def skill(d: Path, name: str) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "SKILL.md").write_text(f"---\nname: {name}\ndescription: Does {name}. Use when testing.\n---\n# {name}\n")
    return d


def write(p: Path, text: str) -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def findings_at(doc: dict[str, Any], path: Path | str, code: str = "manifest_invalid") -> list[dict[str, Any]]:
    return [f for f in doc["findings"] if f["code"] == code and f.get("path") == str(path)]


def names(doc: dict[str, Any]) -> set[str]:
    return {s["name"] for s in doc["skills"]}


def assert_publishable(doc: dict[str, Any]) -> None:
    """What the CLI does next: the schema check and orjson (which refuses lone surrogates)."""
    validate(doc, "inventory")
    orjson.dumps(doc, option=orjson.OPT_INDENT_2)
    for f in doc["findings"]:
        assert "\n" not in f["message"], f


def bytes_dir(parent: Path, name: bytes) -> Path:
    """A folder whose name is not valid UTF-8 (Linux takes any bytes; a filesystem that refuses: skip)."""
    raw = os.fsencode(parent) + b"/" + name
    try:
        os.mkdir(raw)
    except OSError as e:
        pytest.skip(f"this filesystem refuses non-UTF-8 names: {e}")
    return Path(os.fsdecode(raw))


# -- finding 1: a FIFO named like a manifest --------------------------------------------------------------

FIFO_SCAN = textwrap.dedent("""
    import json, os, sys
    from pathlib import Path
    from skill_insights.collectors.skills import scan
    from skill_insights.collectors.skills.tessl import TesslRegistry
    root, home, claude, cache = (Path(a) for a in sys.argv[1:5])
    reg = TesslRegistry("http://127.0.0.1:9", cache)  # offline: the cache is all it reads
    fifo = reg._cache_path("ws/tile")  # where the cached answer for ws/tile would be
    fifo.parent.mkdir(parents=True)
    os.mkfifo(fifo)
    doc = scan([root], agent_dirs=True, home=home, claude_dir=claude, registry=reg)
    print(json.dumps({"findings": doc["findings"], "skills": sorted(s["name"] for s in doc["skills"]),
                      "manifests": [m for m in doc["manifests"] if m["kind"] == "tessl.json"]}))
""")


def test_a_fifo_named_like_any_manifest_is_a_finding_not_a_hang(env: dict[str, Path]) -> None:
    # Regression: read_json opened manifests with a blocking open(): a FIFO named tessl.json (or any manifest
    # read) hung the scan forever. A subprocess, so a hang fails the test as a timeout.
    root, claude = env["root"], env["claude"]
    fifos = [
        root / "a" / "tessl.json",
        root / "b" / "tile.json",
        root / "c" / ".tessl-plugin" / "plugin.json",
        root / "d" / ".claude-plugin" / "plugin.json",
        root / "e" / ".claude-plugin" / "marketplace.json",
        claude / "plugins" / "installed_plugins.json",
    ]
    for f in fifos:
        f.parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(f)
    skill(root / "a" / "fine", "fine")
    write(root / "t" / "tessl.json", json.dumps({"dependencies": {"ws/tile": {"version": "1.0.0"}}}))
    proc = subprocess.run(
        [sys.executable, "-c", FIFO_SCAN, str(root), str(env["home"]), str(claude), str(env["tmp"] / "cache")],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    out = json.loads(proc.stdout)
    for f in fifos:
        hits = [x for x in out["findings"] if x["code"] == "manifest_invalid" and x.get("path") == str(f)]
        assert len(hits) == 1 and hits[0]["message"].endswith("not a regular file"), (f, out["findings"])
        assert f.is_fifo()
    assert out["skills"] == ["fine"]  # the rest of the scan went on
    # A FIFO where the registry cache file would be: not read, the signal stays unknown (registry offline).
    (tessl,) = out["manifests"]
    assert tessl["dependencies"]["ws/tile"]["registry"]["status"] == "unknown"


def test_a_symlinked_or_oversized_manifest_is_refused(env: dict[str, Path]) -> None:
    root, tmp = env["root"], env["tmp"]
    outside = write(tmp / "outside" / "tile.json", json.dumps({"name": "evil/tile", "version": "9.9.9"}))
    (root / "linked").mkdir(parents=True)
    (root / "linked" / "tile.json").symlink_to(outside)
    skill(root / "linked" / "skills" / "in-linked", "in-linked")
    write(root / "big" / "tessl.json", '{"name": "' + "x" * (1024 * 1024) + '"}')
    doc = scan([root], agent_dirs=False)
    assert "symlink" in findings_at(doc, root / "linked" / "tile.json")[0]["message"]
    assert "over" in findings_at(doc, root / "big" / "tessl.json")[0]["message"]
    assert not doc["manifests"]
    assert names(doc) == {"in-linked"}
    assert_publishable(doc)


# -- finding 2: manifest shapes that crashed -----------------------------------------------------------------

WALKED_CASES = {
    # name: (manifest path under the project, raw text, expected words in the finding)
    "deeply nested tessl.json": ("tessl.json", "[" * 100_000, "nested too deeply"),
    "marketplace plugins=5": (".claude-plugin/marketplace.json", json.dumps({"plugins": 5}), "plugins is a number"),
    "marketplace skills=5": (
        ".claude-plugin/marketplace.json",
        json.dumps({"plugins": [{"name": "a", "source": "./a", "skills": 5}]}),
        "plugins[0].skills is a number",
    ),
    "marketplace entry not an object": (
        ".claude-plugin/marketplace.json",
        json.dumps({"plugins": [1]}),
        "plugins[0] is a number",
    ),
    "marketplace source NUL": (
        ".claude-plugin/marketplace.json",
        json.dumps({"plugins": [{"name": "a", "source": "./a\u0000b"}]}),
        "source holds a NUL byte",
    ),
    "lone surrogate escape": ("tessl.json", '{"name": "\\udcff"}', "not valid Unicode"),
    "surrogate in a key": ("tile.json", '{"name": "w/t", "skills": {"\\ud800": "x"}}', "not valid Unicode"),
    "dependencies entry a list": (
        "tessl.json",
        json.dumps({"dependencies": {"w/t": [1]}}),
        "dependencies entry is a list",
    ),
    "tile skills a number": ("tile.json", json.dumps({"name": "w/t", "skills": 7}), "skills is a number"),
    "tile version an object": ("tile.json", json.dumps({"name": "w/t", "version": {"x": 1}}), "version is an object"),
    "plugin name a list": (".claude-plugin/plugin.json", json.dumps({"name": ["x"]}), "name is a list"),
    "tessl-plugin private a string": (
        ".tessl-plugin/plugin.json",
        json.dumps({"name": "w/t", "private": "no"}),
        "private is a string",
    ),
    "not UTF-8": ("tessl.json", b'{"name": "\xff"}', "utf-8"),
    "huge integer": ("tessl.json", '{"n": ' + "1" * 5000 + "}", "digits"),
    "not an object": ("tile.json", "[1, 2]", "not a JSON object"),
}


@pytest.mark.parametrize("case", list(WALKED_CASES))
def test_a_bad_manifest_in_a_walked_tree_is_one_finding(env: dict[str, Path], case: str) -> None:
    rel, raw, words = WALKED_CASES[case]
    proj = env["root"] / "proj"
    man = proj / rel
    man.parent.mkdir(parents=True, exist_ok=True)
    man.write_bytes(raw if isinstance(raw, bytes) else raw.encode())
    skill(env["root"] / "other" / "fine", "fine")
    skill(proj / "skills" / "inner", "inner")
    doc = scan([env["root"]], agent_dirs=False)
    hits = findings_at(doc, man)
    assert len(hits) == 1, doc["findings"]
    assert words.lower() in hits[0]["message"].lower(), hits[0]
    assert names(doc) == {"fine", "inner"}  # the rest of the scan goes on
    assert_publishable(doc)


def test_a_half_bad_marketplace_keeps_its_good_plugins(env: dict[str, Path]) -> None:
    mkt = env["root"] / "mkt"
    write(
        mkt / ".claude-plugin" / "marketplace.json",
        json.dumps(
            {
                "name": "m",
                "plugins": [
                    {"name": "good", "source": "./plugins/good", "version": "1.0.0", "skills": ["./skills/g", 3]},
                    {"name": "remote", "source": {"source": "github", "repo": "o/r"}},
                    {"name": "bad", "source": 5},
                    "junk",
                ],
            }
        ),
    )
    skill(mkt / "plugins" / "good" / "skills" / "g", "g")
    doc = scan([env["root"]], agent_dirs=False)
    (m,) = doc["manifests"]
    assert [p["name"] for p in m["plugins"]] == ["good", "remote", "bad"]
    assert m["plugins"][0]["skills"] == ["./skills/g"]
    assert m["plugins"][1]["source"] is None and m["plugins"][2]["source"] is None
    (f,) = findings_at(doc, mkt / ".claude-plugin" / "marketplace.json")
    assert f["message"] == "claude-marketplace: ignored: plugins[0].skills[1] is a number, not a string (and 2 more)"
    (g,) = doc["skills"]
    assert g["locations"][0]["plugin"]["name"] == "good"  # the good plugin still maps its skills
    assert_publishable(doc)


INSTALLED_CASES = {
    "plugins a list": ({"plugins": [1]}, "plugins is a list", None),
    # The key stays, its path is dropped: installed by key, as for a record without installPath.
    "installPath with NUL": (
        {"plugins": {"p@mkt": {"installPath": "a\u0000b", "version": "1.0.0"}}},
        "installPath is not a usable path",
        True,
    ),
    "installPath a number": ({"plugins": {"p@mkt": [{"installPath": 5}]}}, "installPath is a number", True),
    "install record a string": ({"plugins": {"p@mkt": ["x"]}}, "an install record is a string", True),
    "version an object": ({"plugins": {"p@mkt": {"version": {"v": 1}}}}, "version is an object", True),
    "entry a number": ({"plugins": {"p@mkt": 5}}, "a plugin entry is a number", False),  # no such key
    "deeply nested": ("[" * 100_000, "nested too deeply", None),
    "lone surrogate": ('{"plugins": {"p@mkt": {"scope": "\\udc80"}}}', "not valid Unicode", None),
}


@pytest.mark.parametrize("case", list(INSTALLED_CASES))
def test_a_bad_installed_plugins_json_is_one_finding(env: dict[str, Path], case: str) -> None:
    data, words, installed = INSTALLED_CASES[case]
    claude = env["claude"]
    ip = write(claude / "plugins" / "installed_plugins.json", data if isinstance(data, str) else json.dumps(data))
    plug = claude / "plugins" / "cache" / "mkt" / "p" / "1.0.0"
    write(plug / ".claude-plugin" / "plugin.json", json.dumps({"name": "p", "version": "1.0.0"}))
    skill(plug / "skills" / "ps", "ps")
    skill(claude / "skills" / "mine", "mine")
    doc = scan([], agent_dirs=True, home=env["home"], claude_dir=claude)
    hits = findings_at(doc, ip)
    assert len(hits) == 1 and words.lower() in hits[0]["message"].lower(), doc["findings"]
    assert names(doc) == {"ps", "mine"}
    ps = next(s for s in doc["skills"] if s["name"] == "ps")
    # A file that can't be read as a whole says nothing about what is installed; a bad entry only drops itself.
    assert ps["locations"][0]["installed"] is installed
    assert_publishable(doc)


def test_a_linked_installed_plugins_json_is_followed(env: dict[str, Path]) -> None:
    # Claude Code's own file may be a dotfile link: followed. Its target is still read only when regular.
    claude = env["claude"]
    target = write(
        env["tmp"] / "dotfiles" / "installed_plugins.json",
        json.dumps({"plugins": {"p@mkt": [{"installPath": "/nowhere"}]}}),
    )
    (claude / "plugins").mkdir(parents=True)
    (claude / "plugins" / "installed_plugins.json").symlink_to(target)
    doc = scan([], agent_dirs=True, home=env["home"], claude_dir=claude)
    assert [m["kind"] for m in doc["manifests"]] == ["installed_plugins"]
    assert not doc["findings"]


# -- finding 3: names that are not UTF-8 ---------------------------------------------------------------------


def test_names_that_are_not_utf8_are_skipped_with_one_finding_each(env: dict[str, Path]) -> None:
    # Regression: a folder b'bad\xff' came back from os.scandir with a lone surrogate, became a skill path,
    # and the JSON encoding of the inventory (orjson) failed with a traceback.
    root, tmp = env["root"], env["tmp"]
    root.mkdir()
    skill(root / "ok" / "fine", "fine")
    skill(bytes_dir(root, b"bad\xff") / "inside", "inside")  # a folder: not descended into
    skill(bytes_dir(root, b"skill\xfe"), "badname")  # a skill folder itself
    # A plain file: discovery never records one, so it needs no finding (inside a skill: skilldir's business).
    Path(os.fsdecode(os.fsencode(root / "ok") + b"/file\xe9")).write_text("latin-1 name")
    skill(root / "ok" / "caf\u00e9", "cafe")  # valid UTF-8 beyond ASCII: scanned as ever
    # A link, in an agent skills dir (so it would be followed), to a folder whose real path is not UTF-8.
    target = skill(bytes_dir(tmp, b"target\xff"), "linked")
    (root / "proj" / ".claude" / "skills").mkdir(parents=True)
    (root / "proj" / ".claude" / "skills" / "linked").symlink_to(target)
    # A root passed in whose own path is not UTF-8.
    bad_root = bytes_dir(tmp, b"root\xfa")
    skill(bad_root / "s", "in-bad-root")

    doc = scan([root, bad_root], agent_dirs=False)
    assert names(doc) == {"fine", "cafe"}
    got = {(f["path"], f["message"]) for f in doc["findings"] if f["code"] == "name_not_utf8"}
    assert got == {
        (f"{root}/bad\ufffd", "name is not valid UTF-8: skipped"),
        (f"{root}/skill\ufffd", "name is not valid UTF-8: skipped"),
        (f"{root}/proj/.claude/skills/linked", f"link target '{tmp}/target\ufffd' is not valid UTF-8: skipped"),
        (f"{tmp}/root\ufffd", "path is not valid UTF-8: skipped"),
    }
    assert all(f["severity"] == "warning" for f in doc["findings"])
    assert [r["path"] for r in doc["roots"]] == [str(root)]
    assert_publishable(doc)


def test_a_session_project_whose_path_is_not_utf8_is_skipped(env: dict[str, Path]) -> None:
    proj = bytes_dir(env["tmp"], b"proj\xff")
    skill(proj / ".claude" / "skills" / "p", "p")
    write(proj / "tessl.json", json.dumps({"dependencies": {}}))
    doc = scan([], agent_dirs=False, project_dirs=[proj])
    assert doc["skills"] == [] and doc["manifests"] == [] and doc["roots"] == []
    assert [(f["code"], f["path"]) for f in doc["findings"]] == [("name_not_utf8", f"{env['tmp']}/proj\ufffd")]
    assert_publishable(doc)


def test_cli_scan_of_a_hostile_tree_exits_0_with_valid_json(env: dict[str, Path]) -> None:
    root = env["root"]
    root.mkdir()
    skill(root / "fine", "fine")
    skill(bytes_dir(root, b"bad\xff"), "bad")
    write(root / "mkt" / ".claude-plugin" / "marketplace.json", json.dumps({"plugins": 5}))
    write(root / "proj" / "tessl.json", "[" * 100_000)
    res = CliRunner().invoke(cli, ["scan", str(root), "--no-agent-dirs", "--json"])
    assert res.exit_code == 0, res.output + repr(res.exception)
    doc = json.loads(res.output)
    assert names(doc) == {"fine"}
    codes = sorted((f["code"], f["path"]) for f in doc["findings"])
    assert codes == [
        ("manifest_invalid", str(root / "mkt" / ".claude-plugin" / "marketplace.json")),
        ("manifest_invalid", str(root / "proj" / "tessl.json")),
        ("name_not_utf8", f"{root}/bad\ufffd"),
    ]


# -- tessl.py: registry answers and cache files --------------------------------------------------------------

BAD_ANSWERS: dict[str, bytes] = {
    "garbage": b"\xff\xfe not json",
    "deep": b"[" * 100_000,
    "deep-in-object": b'{"latestVersion": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "latest-object": json.dumps({"data": {"latestVersion": {"version": [1, 2]}}}).encode(),
    "latest-surrogate": b'{"latestVersion": "\\udcff", "updatedAt": "\\ud800"}',
    "latest-huge-digits": json.dumps({"latestVersion": "1" * 5000}).encode(),
    "versions-junk": json.dumps({"versions": [{"version": [1]}, "9" * 5000, None, 3.5, {"version": {}}]}).encode(),
    "not-an-object": b"[1, 2, 3]",
    "too-big": b'{"latestVersion": "1.0.0", "pad": "' + b"x" * (2 * 1024 * 1024) + b'"}',
}


def _bad_answer(req: Request) -> tuple[int, Any]:
    return 200, BAD_ANSWERS.get(req.path.rsplit("/", 1)[-1], b"{}")


def test_malformed_registry_answers_degrade_never_crash(env: dict[str, Path]) -> None:
    proj = env["root"] / "proj"
    deps = {f"ws/{k}": {"version": "1.0.0"} for k in BAD_ANSWERS}
    write(proj / "tessl.json", json.dumps({"dependencies": deps}))
    with serve(_bad_answer) as srv:
        reg = TesslRegistry(srv.url, env["tmp"] / "cache")
        doc = scan([proj], agent_dirs=False, registry=reg)
        reg.close()
    (m,) = doc["manifests"]
    for dep, info in m["dependencies"].items():
        sig = info["registry"]
        assert sig["status"] == "error" and sig["latest_version"] is None and sig["behind"] is None, (dep, sig)
        assert sig["updated_at"] is None
    assert_publishable(doc)
    assert is_behind("1.0.0", "1" * 5000) is None  # int() refuses over 4300 digits: no version, not a crash


def _good_answer(req: Request) -> tuple[int, Any]:
    return 200, {"latestVersion": "2.0.0", "updatedAt": "2026-01-01T00:00:00Z"}


CORRUPT_CACHE: dict[str, bytes] = {
    "a list": b"[1]",
    "not json": b"\xff{",
    "deep": b"[" * 100_000,
    "fetched a string": json.dumps({"fetched": "x", "signals": {"status": "ok"}}).encode(),
    "fetched infinite": b'{"fetched": 1e999, "signals": {"status": "ok", "latest_version": "9.9.9"}}',
    "signals a string": json.dumps({"fetched": time.time(), "signals": "ok"}).encode(),
    "status unknown word": json.dumps({"fetched": time.time(), "signals": {"status": "great"}}).encode(),
    "latest an object": json.dumps(
        {"fetched": time.time(), "signals": {"status": "ok", "latest_version": {"v": 1}}}
    ).encode(),
    "latest a surrogate": json.dumps({"fetched": time.time(), "signals": {"status": "ok", "latest_version": "@"}})
    .replace('"@"', '"\\udcff"')
    .encode(),
    "http_status a string": json.dumps(
        {"fetched": time.time(), "signals": {"status": "error", "http_status": "500"}}
    ).encode(),
}


@pytest.mark.parametrize("case", list(CORRUPT_CACHE))
def test_a_corrupt_registry_cache_file_is_ignored(env: dict[str, Path], case: str) -> None:
    cache = env["tmp"] / "cache"
    with serve(_good_answer) as srv:
        url = srv.url
        reg = TesslRegistry(url, cache)
        assert reg.signals("ws/tile")["latest_version"] == "2.0.0"  # writes the cache file
        reg.close()
        (cached,) = (cache / "registry" / "tessl").iterdir()
        cached.write_bytes(CORRUPT_CACHE[case])
        # The registry up: the corrupt entry is as good as none, the tile is asked again.
        reg = TesslRegistry(url, cache)
        assert reg.signals("ws/tile")["latest_version"] == "2.0.0"
        reg.close()
        assert len(srv.requests) == 2
    # The registry gone: a corrupt entry reads as unknown.
    cached.write_bytes(CORRUPT_CACHE[case])
    reg = TesslRegistry(url, cache)
    sig = reg.signals("ws/tile")
    reg.close()
    assert sig["status"] == "unknown" and sig["latest_version"] is None


def test_a_manifest_linked_to_a_file_of_its_own_folder_is_read(env: dict[str, Path]) -> None:
    # Regression: marketplaces commit `.claude-plugin/marketplace.json -> ../marketplace.json` and
    # `plugins/p/.claude-plugin/plugin.json -> ../plugin.json` (Claude Code reads them); refusing every
    # manifest link lost the plugin's identity. A link that stays in the folder it describes is followed.
    root = env["root"]
    mkt = root / "mkt"
    write(
        mkt / "marketplace.json",
        json.dumps(
            {
                "name": "acme",
                "plugins": [
                    {"name": "aimate", "source": "./plugins/aimate", "version": "1.2.0"},
                    {"name": "extra", "source": "./plugins/extra", "skills": "./more/"},
                ],
            }
        ),
    )  # a string: one path
    (mkt / ".claude-plugin").mkdir()
    (mkt / ".claude-plugin" / "marketplace.json").symlink_to("../marketplace.json")
    plugin = mkt / "plugins" / "aimate"
    write(plugin / "plugin.json", json.dumps({"name": "aimate", "version": "1.2.0"}))
    (plugin / ".claude-plugin").mkdir()
    (plugin / ".claude-plugin" / "plugin.json").symlink_to("../plugin.json")
    skill(plugin / "skills" / "plan", "plan")
    skill(mkt / "plugins" / "extra" / "more" / "tool", "tool")
    doc = scan([root], agent_dirs=False)
    assert not [f for f in doc["findings"] if f["code"] == "manifest_invalid"], doc["findings"]
    assert {m["kind"] for m in doc["manifests"]} == {"claude-marketplace", "claude-plugin"}
    [plan] = [s for s in doc["skills"] if s["name"] == "plan"]
    assert plan["locations"][0]["plugin"]["name"] == "aimate" and plan["names"] == ["aimate:plan"]
    [tool] = [s for s in doc["skills"] if s["name"] == "tool"]
    assert tool["locations"][0]["plugin"]["name"] == "extra"
    assert_publishable(doc)


def test_a_session_project_without_tessl_json_is_no_finding_and_a_linked_one_is_read(env: dict[str, Path]) -> None:
    # Regression: a positional argument shifted when manifests learned which folder they describe, so every
    # captured session's folder without a tessl.json got a "No such file" finding.
    bare, linked = env["root"] / "bare", env["root"] / "linked"
    bare.mkdir(parents=True)
    write(linked / "deps.json", json.dumps({"name": "proj", "dependencies": {"ws/tile": "1.0.0"}}))
    (linked / "tessl.json").symlink_to("deps.json")
    doc = scan([], agent_dirs=False, project_dirs=[bare, linked])
    assert doc["findings"] == []
    assert [(m["kind"], m["path"]) for m in doc["manifests"]] == [("tessl.json", str(linked / "tessl.json"))]
