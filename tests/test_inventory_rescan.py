"""The fast paths of the skills scan give the same inventory as a plain one: forked workers, the stat-signature
cache of a re-scan (and what it must notice), the walk's caps; and the store's incremental rewrite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from skill_insights.collectors.skills import scan
from skill_insights.collectors.skills.skilldir import MAX_FILES, process_skill, signature


def _skill(d: Path, name: str, body: str = "See [guide](references/guide.md) and `scripts/run.sh`.\n") -> Path:
    (d / "scripts").mkdir(parents=True, exist_ok=True)
    (d / "references").mkdir(exist_ok=True)
    (d / "SKILL.md").write_text(f"---\nname: {name}\ndescription: Does {name}.\n---\n{body}")
    (d / "scripts" / "run.sh").write_text(f"echo {name}\n")
    (d / "references" / "guide.md").write_text(f"# {name}\n")
    return d


def _tree(root: Path, n: int) -> list[Path]:
    out = []
    for i in range(n):
        out.append(_skill(root / f"repo{i % 7}" / ".claude" / "skills" / f"s{i:03d}", f"s{i:03d}"))
    # a vendored copy (collapses with s000), a nested skill and a link inside a skill
    _skill(root / "vendor" / ".agents" / "skills" / "s000", "s000")
    _skill(out[1] / "inner", "inner")
    os.symlink("guide.md", out[2] / "references" / "alias.md")
    return out


def _content(doc: dict[str, Any]) -> bytes:
    return orjson.dumps(
        {k: v for k, v in doc.items() if k not in ("generated_at", "duration_seconds")}, option=orjson.OPT_SORT_KEYS
    )


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, list[Path]]:
    root = tmp_path / "tree"
    return root, _tree(root, 130)


_FORKED = """
import logging, sys, threading, orjson
from pathlib import Path
from skill_insights.collectors.skills import scan, worker_count
logging.basicConfig(stream=sys.stderr)  # a failed worker says so (its share is then redone serially)
assert threading.active_count() == 1 and worker_count(2, 131) == 2
cache = Path(sys.argv[2]) if len(sys.argv) > 2 else None
doc = scan([Path(sys.argv[1])], agent_dirs=False, workers=2, cache_file=cache)
sys.stdout.buffer.write(orjson.dumps(doc))
"""


def _forked_scan(root: Path, cache: Path | None = None) -> dict[str, Any]:
    """A scan with two forked workers, in a fresh interpreter: one with no other thread, so it does fork
    (this test process may hold threads other tests left, and then the scan stays serial)."""
    args = [sys.executable, "-c", _FORKED, str(root)] + ([str(cache)] if cache else [])
    out = subprocess.run(args, capture_output=True, check=True, timeout=120)
    assert b"scan worker failed" not in out.stderr  # the workers' results were used, not redone here
    return orjson.loads(out.stdout)


def test_forked_workers_give_the_same_inventory(tree: tuple[Path, list[Path]]) -> None:
    root, _ = tree
    serial = scan([root], agent_dirs=False, workers=1)
    assert _content(_forked_scan(root)) == _content(serial)
    assert serial["stats"]["skills"] == 131  # 130 + the nested one; the vendored copy collapses into s000


def test_rescan_reuses_unchanged_results_and_sees_every_change(tree: tuple[Path, list[Path]], tmp_path: Path) -> None:
    root, skills = tree
    cache = tmp_path / "cache.json"
    first = _forked_scan(root, cache)
    written = cache.stat().st_mtime_ns
    again = _forked_scan(root, cache)
    assert _content(again) == _content(first)
    assert cache.stat().st_mtime_ns == written  # nothing changed: the cache is not rewritten

    # Same size, new content; a new file; a removed file; a link retargeted: each one is noticed.
    (skills[3] / "scripts" / "run.sh").write_text("echo ZZZZ\n")  # as long as "echo s003\n"
    (skills[4] / "references" / "new.md").write_text("new\n")
    (skills[5] / "scripts" / "run.sh").unlink()
    os.unlink(skills[2] / "references" / "alias.md")
    os.symlink("../scripts/run.sh", skills[2] / "references" / "alias.md")
    changed = _forked_scan(root, cache)
    fresh = scan([root], agent_dirs=False)
    assert _content(changed) == _content(fresh)
    assert _content(changed) != _content(first)
    by_name = {s["name"]: s for s in changed["skills"]}
    assert "references/new.md" in {f["path"] for f in by_name["s004"]["files"]}
    assert "scripts/run.sh" not in {f["path"] for f in by_name["s005"]["files"]}


def test_signature_matches_what_a_full_read_records(tree: tuple[Path, list[Path]]) -> None:
    _, skills = tree
    for d in skills[:4]:
        real = os.path.realpath(d)
        res = process_skill(real)
        assert res["sig"] == signature(real)
        assert process_skill(real, None, res) is res  # unchanged: the cached result itself


def test_file_cap_keeps_the_first_files_and_says_so(tmp_path: Path) -> None:
    d = _skill(tmp_path / "big", "big")
    for i in range(MAX_FILES + 5):
        (d / f"f{i:05d}.txt").write_text("x")
    res = process_skill(os.path.realpath(d))
    assert len(res["files"]) == MAX_FILES
    assert [f["code"] for f in res["findings"]].count("too_many_files") == 1
    assert res["sig"] == signature(os.path.realpath(d))


def _tables(db: Any) -> dict[str, list[tuple[Any, ...]]]:
    q = {
        "skills": "SELECT id, name, description, content_hash, names, frontmatter, body_lines, approx_tokens,"
        " size_bytes, findings FROM skills ORDER BY id",
        "skill_locations": "SELECT * FROM skill_locations ORDER BY path",
        "skill_files": "SELECT * FROM skill_files ORDER BY skill_id, path",
        "manifests": "SELECT * FROM manifests ORDER BY path",
    }
    return {t: db.execute(sql).fetchall() for t, sql in q.items()}


def test_store_rewrites_only_what_changed_and_reads_back_every_scan(
    tree: tuple[Path, list[Path]], tmp_path: Path
) -> None:
    from skill_insights.collectors.skills.store import latest_inventory, store_scan
    from skill_insights.store import open_reader

    root, skills = tree
    db = open_reader(tmp_path / "a.db")
    doc1 = scan([root], agent_dirs=False)
    assert store_scan(db, doc1)["first"]
    assert orjson.dumps(latest_inventory(db)) == orjson.dumps(doc1)  # same keys, same order

    # Nothing changed: one more scan row, no second copy of the document, the newest stamps read back.
    doc2 = scan([root], agent_dirs=False)
    doc2["generated_at"], doc2["duration_seconds"] = "2099-01-01T00:00:00Z", 12.5
    assert store_scan(db, doc2) == {"scan_id": 2, "first": False, "added": 0, "removed": 0, "changed": 0}
    assert db.execute("SELECT count(*) FROM scans WHERE document IS NOT NULL").fetchone()[0] == 1
    assert orjson.dumps(latest_inventory(db)) == orjson.dumps(doc2)
    # The rows are left alone: they stay those of the scan that wrote them.
    assert {r[0] for r in db.execute("SELECT DISTINCT scan_id FROM skills")} == {1}

    # A file changes in place, another becomes a link to an identical file, a skill goes: the tables end up
    # exactly as a store written from scratch would hold them.
    (skills[7] / "scripts" / "run.sh").write_text("echo changed\n")
    (skills[8] / "references" / "copy.md").write_text("# s008\n")
    (skills[8] / "references" / "guide.md").unlink()
    os.symlink("copy.md", skills[8] / "references" / "guide.md")
    import shutil

    shutil.rmtree(skills[9])
    doc3 = scan([root], agent_dirs=False)
    res = store_scan(db, doc3)
    assert (res["changed"], res["removed"]) == (2, 1)
    fresh = open_reader(tmp_path / "b.db")
    store_scan(fresh, doc3)
    assert _tables(db) == _tables(fresh)
    assert _tables(db)["skill_files"] == _file_rows(doc3)
    assert orjson.dumps(latest_inventory(db)) == orjson.dumps(doc3)
    assert db.execute("SELECT count(*) FROM scans WHERE document IS NOT NULL").fetchone()[0] == 1


def _file_rows(doc: dict[str, Any]) -> list[tuple[Any, ...]]:
    return sorted(
        (s["id"], f["path"], f["size"], f["sha256"], f["kind"], int(f["is_link"]))
        for s in doc["skills"]
        for f in s["files"]
    )


def test_skill_files_of_a_store_from_before_the_view_are_the_stored_documents(
    tree: tuple[Path, list[Path]], tmp_path: Path
) -> None:
    # skills_0002 replaced the skill_files table (rows written beside the document) by a view of the newest
    # stored document: a store migrated across it lists the same files, without a re-scan.
    import sqlite_utils

    from skill_insights.collectors.skills.store import stored_text
    from skill_insights.store import MIGRATIONS, connect, open_db

    root, _ = tree
    doc = scan([root], agent_dirs=False)
    path = tmp_path / "behind.db"
    db = sqlite_utils.Database(connect(path))
    db.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
    before = [(n, m) for n, m in MIGRATIONS if n != "skills_0002_files_view"]
    for name, m in before:
        m(db)
        db.execute("INSERT INTO _migrations VALUES (?, datetime('now'))", [name])
    db["skill_files"].insert_all(
        [dict(zip(("skill_id", "path", "size", "sha256", "kind", "is_link"), r, strict=True)) for r in _file_rows(doc)]
    )
    db.execute("INSERT INTO scans (generated_at, document) VALUES (?, ?)", [doc["generated_at"], stored_text(doc)])
    db.conn.commit()
    db.conn.close()
    upgraded = open_db(path)
    assert "skill_files" in upgraded.view_names() and "skill_files" not in upgraded.table_names()
    assert upgraded.execute("SELECT * FROM skill_files ORDER BY skill_id, path").fetchall() == _file_rows(doc)


def test_latest_inventory_reads_documents_stored_whole(tmp_path: Path) -> None:
    # Stores written before documents were kept without their stamps hold the whole document.
    from skill_insights.collectors.skills.store import latest_inventory
    from skill_insights.store import open_reader

    db = open_reader(tmp_path / "old.db")
    doc = {
        "schema_version": "1.0",
        "generated_at": "2026-01-01T00:00:00Z",
        "duration_seconds": 1.0,
        "roots": [],
        "skills": [],
        "manifests": [],
    }
    db.execute(
        "INSERT INTO scans (generated_at, document) VALUES (?, ?)", [doc["generated_at"], orjson.dumps(doc).decode()]
    )
    assert latest_inventory(db) == doc


def _cli(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    """The real command in a fresh interpreter (single-threaded: a big scan forks there)."""
    env = {**os.environ, "SKILL_INSIGHTS_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "skill_insights", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_cli_big_scan_checks_and_writes_beside_the_store(tmp_path: Path) -> None:
    from skill_insights.collectors.skills import POOL_THRESHOLD

    root = tmp_path / "tree"
    _tree(root, POOL_THRESHOLD + 10)
    home = tmp_path / "si"
    out = tmp_path / "inv.json"
    r = _cli(["scan", str(root), "--no-agent-dirs", "-o", str(out)], home)
    assert r.returncode == 0, r.stderr
    doc = orjson.loads(out.read_bytes())
    assert doc["stats"]["skills"] == POOL_THRESHOLD + 11
    import sqlite3

    db = sqlite3.connect(home / "data" / "skill-insights.db")
    assert db.execute("SELECT count(*) FROM skills").fetchone()[0] == POOL_THRESHOLD + 11

    # An -o that can't be written: one line, and the scan is not stored (the store waits for the write).
    blocker = tmp_path / "a-file"
    blocker.write_text("x\n")
    r = _cli(["scan", str(root), "--no-agent-dirs", "-o", str(blocker / "inv.json")], home)
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "cannot write" in r.stderr
    assert db.execute("SELECT count(*) FROM scans").fetchone()[0] == 1

    # Re-scans: nothing changed stores a row and no second document; a change stores the new document.
    r = _cli(["scan", str(root), "--no-agent-dirs", "-o", str(out)], home)
    assert r.returncode == 0 and "0 added, 0 removed, 0 changed" in r.stdout, r.stdout + r.stderr
    assert db.execute("SELECT count(*), count(document) FROM scans").fetchone() == (2, 1)
    (root / "repo3" / ".claude" / "skills" / "s003" / "SKILL.md").write_text("---\nname: s003\n---\nNew.\n")
    r = _cli(["scan", str(root), "--no-agent-dirs"], home)
    assert r.returncode == 0 and "0 added, 0 removed, 1 changed" in r.stdout, r.stdout + r.stderr
    assert db.execute("SELECT count(*), count(document) FROM scans").fetchone() == (3, 1)


_WRITER = """
import sys, orjson
from pathlib import Path
from skill_insights.processes import can_fork
from skill_insights.collectors.skills.output import InventoryWriter
assert can_fork()
folder = Path(sys.argv[1])
doc = {"skills": [{"id": i} for i in range(1000)]}
w = InventoryWriter(folder / "kept.json", doc, fork=True)
w.finish()
w.finish()  # a second call does nothing
w = InventoryWriter(folder / "dropped.json", doc, fork=True)
w.abort()
w.finish()  # the first call decided
blocked = folder / "blocker"
blocked.write_text("")
w = InventoryWriter(blocked / "x.json", doc, fork=True)
try:
    w.finish()
except OSError as e:
    print("error", e.strerror)
"""


def test_inventory_writer_renames_only_when_told(tmp_path: Path) -> None:
    from skill_insights.collectors.skills.output import InventoryWriter

    out = subprocess.run(
        [sys.executable, "-c", _WRITER, str(tmp_path)], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.startswith("error ")  # an unwritable target: the OSError of the write, raised by finish()
    doc = {"skills": [{"id": i} for i in range(1000)]}
    assert orjson.loads((tmp_path / "kept.json").read_bytes()) == doc
    assert not (tmp_path / "dropped.json").exists()
    assert not list(tmp_path.glob(".tmp-*"))  # no temporary file left behind
    # Without fork: nothing happens before finish(), which writes here.
    w = InventoryWriter(tmp_path / "serial.json", doc, fork=False)
    assert not (tmp_path / "serial.json").exists()
    w.finish()
    assert orjson.loads((tmp_path / "serial.json").read_bytes()) == doc
    InventoryWriter(tmp_path / "never.json", doc, fork=False).abort()
    assert not (tmp_path / "never.json").exists()


def test_a_rescan_that_finds_the_stored_document_is_known_valid(tree: tuple[Path, list[Path]], tmp_path: Path) -> None:
    from skill_insights.collectors.skills import store
    from skill_insights.store import open_reader

    root, skills = tree
    db = open_reader(tmp_path / "a.db")
    doc = scan([root], agent_dirs=False)
    assert not store.is_stored(db, store.stored_text(doc))  # nothing stored yet
    store.store_scan(db, doc)
    again = scan([root], agent_dirs=False)
    assert store.is_stored(db, store.stored_text(again))  # only the stamps differ
    (skills[0] / "SKILL.md").write_text("---\nname: changed\ndescription: changed\n---\nnew body\n")
    assert not store.is_stored(db, store.stored_text(scan([root], agent_dirs=False)))
    # A document stored by code with another rows version or schema does not count as checked.
    text = store.stored_text(again)
    db.execute("UPDATE scans SET document = ?", [text.replace(store._mark(), "0:00000000")])
    assert not store.is_stored(db, text)
    assert not store.is_stored(open_reader(tmp_path / "empty.db"), text)


_INTERRUPTED = """
import os, signal, sys, time
from pathlib import Path
import skill_insights.collectors.skills as S
work = S._work_share
S._work_share = lambda share: (time.sleep(2), work(share))[1]  # workers still busy when the interrupt comes
def interrupt(*_):
    raise KeyboardInterrupt
signal.signal(signal.SIGALRM, interrupt)
signal.alarm(1)
try:
    S.scan([Path(sys.argv[1])], agent_dirs=False, workers=3)
except KeyboardInterrupt:
    print("interrupted")
print(open(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read().split())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forked workers are Linux only")
def test_an_interrupted_scan_leaves_no_worker_behind(tree: tuple[Path, list[Path]]) -> None:
    root, _ = tree
    out = subprocess.run(
        [sys.executable, "-c", _INTERRUPTED, str(root)], capture_output=True, text=True, timeout=60, check=True
    ).stdout.splitlines()
    assert out[0] == "interrupted"
    assert out[-1] == "[]"  # every forked worker killed and reaped: no child left, not even a zombie


def test_rescan_sees_a_change_behind_a_link_into_a_skipped_folder(tmp_path: Path) -> None:
    skill = tmp_path / "repo" / ".claude" / "skills" / "a"
    (skill / "node_modules").mkdir(parents=True)  # the walk skips it; the link below points into it
    (skill / "SKILL.md").write_text("---\nname: a\ndescription: d\n---\nSee [x](l.md).\n")
    target = skill / "node_modules" / "x.md"
    target.write_text("one\n")
    os.symlink("node_modules/x.md", skill / "l.md")
    cache = tmp_path / "cache.json"

    def hashes(doc: dict[str, Any]) -> dict[str, str]:
        return {f["path"]: f["sha256"] for f in doc["skills"][0]["files"]}

    before = hashes(scan([tmp_path / "repo"], agent_dirs=False, cache_file=cache))
    target.write_text("two, and longer\n")
    after = hashes(scan([tmp_path / "repo"], agent_dirs=False, cache_file=cache))
    assert after["l.md"] != before["l.md"]
    assert after == hashes(scan([tmp_path / "repo"], agent_dirs=False))  # what a scan without cache finds


_PUBLISH_INTERRUPTED = """
import os, sqlite3, sys
from pathlib import Path
from skill_insights.collectors.skills import scan
from skill_insights.collectors.skills.output import publish
from skill_insights.store import open_reader

root, out, db_path, at = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
doc = scan([root], agent_dirs=False, workers=1)
open_reader(db_path).close()  # the schema


class Interrupted(sqlite3.Connection):  # a Ctrl-C arriving while the store runs this statement
    def execute(self, sql, *args):
        if sql.startswith(at):
            raise KeyboardInterrupt
        return super().execute(sql, *args)


try:
    publish(doc, lambda: sqlite3.connect(db_path, isolation_level=None, factory=Interrupted), out, background=True)
except KeyboardInterrupt:
    print("interrupted")
try:
    print("child left", os.waitpid(-1, os.WNOHANG))
except ChildProcessError:
    print("no child left")
"""


@pytest.mark.parametrize("at", ["INSERT INTO scans", "DELETE FROM skill_locations"])
def test_publish_interrupted_writes_nothing_and_leaves_no_child(
    tree: tuple[Path, list[Path]], tmp_path: Path, at: str
) -> None:
    # Regression: a Ctrl-C while storing left the schema check's child unreaped (a zombie).
    root, _ = tree
    out, db_path = tmp_path / "inv.json", tmp_path / "a.db"
    r = subprocess.run(
        [sys.executable, "-c", _PUBLISH_INTERRUPTED, str(root), str(out), str(db_path), at],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["interrupted", "no child left"], r.stdout
    assert not out.exists() and not list(tmp_path.glob(".tmp-*"))
    import sqlite3

    assert sqlite3.connect(db_path).execute("SELECT count(*) FROM scans").fetchone()[0] == 0


def test_a_folder_swapped_for_an_outside_link_after_discovery_is_not_read(tmp_path: Path) -> None:
    # Regression: the root's listing comes from discovery; a subfolder replaced by a symlink to a folder
    # outside the skill after that was walked into, and the outside file hashed as the skill's own.
    import hashlib
    import shutil

    from skill_insights.collectors.skills.discover import discover

    sk = _skill(tmp_path / "root" / "sk", "sk")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "guide.md").write_text("SECRET outside the skill\n")
    [c] = discover([tmp_path / "root"], agent_dirs=False).candidates.values()
    shutil.rmtree(sk / "references")
    os.symlink(outside, sk / "references")
    res = process_skill(c.realpath, c.listing)
    secret = hashlib.sha256(b"SECRET outside the skill\n").hexdigest()
    assert all(f["sha256"] != secret for f in res["files"])
    assert [f["path"] for f in res["files"]] == ["SKILL.md", "scripts/run.sh"]
    assert ("unreadable_dir", "references") in [(f["code"], f.get("path")) for f in res["findings"]]
    assert res["sig"] != signature(c.realpath)  # the next scan reads it again (and lists the link)


def test_names_that_are_not_utf8_are_findings_not_crashes(tmp_path: Path) -> None:
    # Regression: a file name with bytes that are not UTF-8 came back with lone surrogates, which crashed
    # the signature and every JSON encoding of the inventory.
    sk = _skill(tmp_path / "repo" / ".claude" / "skills" / "sk", "sk")
    bad = os.fsdecode(b"bad\xff.md")
    (sk / "references" / bad).write_text("x\n")
    os.symlink(bad, sk / "references" / "to-bad.md")
    res = process_skill(os.path.realpath(sk))
    assert ("name_not_utf8", "references/bad\ufffd.md") in [(f["code"], f.get("path")) for f in res["findings"]]
    assert res["sig"] == signature(os.path.realpath(sk))
    doc = scan([tmp_path / "repo"], agent_dirs=False)
    link = next(f for f in doc["skills"][0]["files"] if f["path"] == "references/to-bad.md")
    assert link["link_target"] == "bad\ufffd.md" and link["sha256"] is not None
    orjson.dumps(doc)  # encodable


def test_a_linked_skill_md_is_parsed_and_every_link_kind_keeps_the_signature(tmp_path: Path) -> None:
    # Regression: SKILL.md as a link to a file inside the skill was listed but never parsed (no name).
    sk = tmp_path / "sk"
    _skill(sk, "ignored")
    (sk / "README.md").write_text("---\nname: linked-md\ndescription: Through a link.\n---\nBody.\n")
    (sk / "SKILL.md").unlink()
    os.symlink("README.md", sk / "SKILL.md")
    outside = tmp_path / "outside.md"
    outside.write_text("out\n")
    os.symlink(outside, sk / "out.md")  # outside: listed, not read
    os.symlink("missing.md", sk / "broken.md")
    os.symlink("references", sk / "refs-link")  # a folder inside
    os.symlink("loop-b", sk / "loop-a")
    os.symlink("loop-a", sk / "loop-b")
    real = os.path.realpath(sk)
    res = process_skill(real)
    assert res["name"] == "linked-md" and res["description"] == "Through a link."
    codes = {f["code"] for f in res["findings"]}
    assert {"symlink_outside", "symlink_broken", "symlink_loop"} <= codes
    assert res["sig"] == signature(real)
    assert process_skill(real, None, res) is res
