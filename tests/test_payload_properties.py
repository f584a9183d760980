"""Property tests of hook payload handling: whatever a payload holds, it never raises and never reads (opens or
lists) anything outside the projects folders, and what it names is a regular transcript inside them.

The file tree is real (links out, a FIFO, a session folder that is a link); what the code touches is
recorded with an audit hook, the interpreter's own record of every open and directory listing.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skill_insights.daemon import spool
from skill_insights.hooks import payload

_touched: list[str] | None = None  # paths opened or listed while recording, else None


def _audit(event: str, args: tuple) -> None:
    if _touched is not None and event in ("open", "os.listdir", "os.scandir", "glob.glob") and args:
        target = args[0]
        if isinstance(target, str | bytes | os.PathLike):
            _touched.append(os.fsdecode(target))


sys.addaudithook(_audit)


class Tree:
    def __init__(self, base: Path):
        self.base = base
        self.projects = base / "projects"
        self.outside = base / "outside"
        proj = self.projects / "-home-dev-p"
        (proj / "s1" / "subagents").mkdir(parents=True)
        (proj / "s1.jsonl").write_text("{}\n")
        (proj / "s1" / "subagents" / "agent-a.jsonl").write_text("{}\n")
        (self.outside / "sess" / "subagents").mkdir(parents=True)
        (self.outside / "o" / "subagents").mkdir(parents=True)
        (self.outside / "o.jsonl").write_text("{}\n")
        (self.outside / "sess" / "subagents" / "agent-x.jsonl").write_text("{}\n")
        (self.outside / "o" / "subagents" / "agent-y.jsonl").write_text("{}\n")
        (proj / "link-out.jsonl").symlink_to(self.outside / "o.jsonl")
        (proj / "linkdir").symlink_to(self.outside, target_is_directory=True)
        (proj / "s2").symlink_to(self.outside / "sess", target_is_directory=True)  # a session folder leading out
        (proj / "slash").symlink_to("/", target_is_directory=True)
        os.mkfifo(proj / "fifo.jsonl")
        self.real_projects = os.path.realpath(self.projects)
        p = str(proj)
        self.paths = [
            f"{p}/s1.jsonl",
            f"{p}/s2.jsonl",
            f"{p}/link-out.jsonl",
            f"{p}/fifo.jsonl",
            f"{p}/linkdir/o.jsonl",
            f"{p}/slash/etc/passwd.jsonl",
            f"{p}/../../outside/o.jsonl",
            f"{self.outside}/o.jsonl",
            f"{self.outside}/sess.jsonl",
            f"{p}/linkdir/sess.jsonl",
            "/etc/passwd",
            "/proc/self/environ.jsonl",
            "relative/s1.jsonl",
            "~/s1.jsonl",
            "~nobody/x.jsonl",
            f"{p}/s1.jsonl\x00",
            f"{p}/\udcff.jsonl",
            f"{p}/\ud800.jsonl",
            "/",
            "",
            ".jsonl",
            f"{p}/",
            f"{p}/s1",
        ]
        self.ids = ["s1", "s2", "o", "sess", "..", ".", "a/b", "a\x00b", "\ud800", "linkdir", "slash", "", "../.."]

    def inside(self, path: str) -> bool:
        real = os.path.realpath(path)
        return real == self.real_projects or real.startswith(self.real_projects + os.sep)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Tree:
    return Tree(tmp_path_factory.mktemp("payloads"))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def field(known: list[str]) -> st.SearchStrategy:
    """Any JSON value, a path or id chosen to attack, or one of those with text around it."""
    attack = st.sampled_from(known)
    return st.one_of(
        json_values, attack, st.builds(lambda a, t, b: t + a + b, attack, st.text(max_size=6), st.text(max_size=6))
    )


def check(tree: Tree, call) -> list:
    global _touched
    _touched = []
    try:
        found = call()
    finally:
        touched, _touched = _touched, None
    outside = [t for t in touched if not tree.inside(t)]
    assert outside == [], f"read outside the projects folders: {outside}"
    return found


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_payload_never_raises_and_never_reads_outside(tree: Tree, data: st.DataObject) -> None:
    doc = data.draw(
        st.fixed_dictionaries(
            {},
            optional={
                "transcript_path": field(tree.paths),
                "session_id": field(tree.ids),
                "hook_event_name": field(["SessionEnd", "SessionStart"]),
                "cwd": field(tree.paths),
                "skill_insights_request": field(["status"]),
            },
        )
    )
    raw = json.dumps(doc).encode("utf-8", "surrogatepass")
    roots = [tree.projects]

    def handle() -> list[str]:
        p = payload.parse(raw)
        files = payload.transcript_files(p, roots) if p is not None else []
        found, _why = spool.transcripts_for(raw, roots)
        assert (found or []) == [Path(f) for f in files]
        return files

    for f in check(tree, handle):
        assert tree.inside(f) and f.endswith(".jsonl") and Path(f).is_file() and not Path(f).is_symlink()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_strings_reaching_transcript_files_never_raise_or_leave_the_projects(
    tree: Tree, data: st.DataObject
) -> None:
    # Strings orjson would refuse (lone surrogates, which JSON cannot carry) go straight into transcript_files.
    tp = data.draw(
        st.one_of(
            st.sampled_from(tree.paths),
            st.text(),
            st.builds(lambda a, t: a + t, st.sampled_from(tree.paths), st.text(max_size=4)),
        )
    )
    sid = data.draw(st.none() | st.sampled_from(tree.ids) | st.text())
    files = check(tree, lambda: payload.transcript_files(payload.HookPayload(tp, sid, None), [tree.projects]))
    assert all(tree.inside(f) and Path(f).is_file() for f in files)


def test_the_tree_names_what_it_should(tree: Tree) -> None:
    # The properties above are only as good as the tree: the one good session is found, with its subagent.
    proj = tree.projects / "-home-dev-p"
    p = payload.HookPayload(str(proj / "s1.jsonl"), "s2", None)
    assert payload.transcript_files(p, [tree.projects]) == [
        str(proj / "s1.jsonl"),
        str(proj / "s1" / "subagents" / "agent-a.jsonl"),
    ]
    # Without the rule these would have been taken: a link out, a folder link out, a FIFO.
    for bad in ("link-out.jsonl", "linkdir/o.jsonl", "fifo.jsonl", "s2.jsonl"):
        assert payload.transcript_files(payload.HookPayload(str(proj / bad), None, None), [tree.projects]) == []
