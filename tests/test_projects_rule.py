"""The one rule for "is this transcript inside the projects folders" (skill_insights.projects), on real files."""

from __future__ import annotations

import os
from pathlib import Path

from skill_insights.collectors import capture
from skill_insights.projects import ProjectRoots, folder_inside_projects, inside_projects


def make(tmp_path: Path) -> tuple[Path, Path]:
    real = tmp_path / "real-claude" / "projects"
    (real / "p" / "s" / "subagents").mkdir(parents=True)
    (real / "p" / "s.jsonl").write_text("{}\n")
    (real / "p" / "s" / "subagents" / "a.jsonl").write_text("{}\n")
    (real / "p" / "notes.txt").write_text("x")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "o.jsonl").write_text("{}\n")
    linked = tmp_path / "claude"  # a config dir that is a link, as with dotfile managers
    linked.symlink_to(tmp_path / "real-claude", target_is_directory=True)
    return real, linked / "projects"


def test_a_transcript_is_spelled_under_the_root_as_given(tmp_path: Path) -> None:
    real, root = make(tmp_path)
    assert inside_projects(str(real / "p" / "s.jsonl"), [root]) == str(root / "p" / "s.jsonl")
    assert inside_projects(root / "p" / "s.jsonl", [root]) == str(root / "p" / "s.jsonl")
    # A link inside to a file inside: the file's own spelling, so it has one row in the store.
    (real / "p" / "alias.jsonl").symlink_to(real / "p" / "s.jsonl")
    assert inside_projects(str(root / "p" / "alias.jsonl"), [root]) == str(root / "p" / "s.jsonl")


def test_what_is_refused(tmp_path: Path) -> None:
    real, root = make(tmp_path)
    (real / "p" / "out.jsonl").symlink_to(tmp_path / "outside" / "o.jsonl")
    (real / "p" / "txt.jsonl").symlink_to(real / "p" / "notes.txt")
    os.mkfifo(real / "p" / "fifo.jsonl")
    (real / "p" / "dir.jsonl").mkdir()
    refused = [
        tmp_path / "outside" / "o.jsonl",
        real / "p" / "out.jsonl",
        real / "p" / "txt.jsonl",
        real / "p" / "fifo.jsonl",
        real / "p" / "dir.jsonl",
        real / "p" / "notes.txt",
        real / "p" / "gone.jsonl",
        f"{root}/p/../../../outside/o.jsonl",
        "p/s.jsonl",
        f"{root}/p/s.jsonl\0",
        f"{root}/p/\ud800.jsonl",
        "",
        42,
        None,
        b"/x.jsonl",
    ]
    for path in refused:
        assert inside_projects(path, [root]) is None, path  # type: ignore[arg-type]


def test_a_root_may_be_one_file_and_roots_may_be_odd(tmp_path: Path) -> None:
    real, _root = make(tmp_path)
    one = tmp_path / "outside" / "o.jsonl"
    assert inside_projects(str(one), [one]) == str(one)  # `ingest --file`: that file is in, nothing else
    assert inside_projects(str(real / "p" / "s.jsonl"), [one]) is None
    assert inside_projects(str(one), ["/"]) == str(one)
    assert inside_projects(str(one), ["", "relative", 3, b"/"]) is None  # type: ignore[list-item]


def test_folders_and_a_root_replaced_by_a_link(tmp_path: Path) -> None:
    real, root = make(tmp_path)
    (real / "p" / "up").symlink_to("/", target_is_directory=True)
    assert folder_inside_projects(str(real / "p" / "s"), [root]) == str(root / "p" / "s")
    assert folder_inside_projects(str(real / "p" / "up"), [root]) is None
    assert folder_inside_projects(str(real / "p" / "s.jsonl"), [root]) is None
    # A long-lived checker keeps the folders it resolved: a root re-pointed at / afterwards is not walked.
    kept = ProjectRoots([root])
    (tmp_path / "claude").unlink()
    (tmp_path / "claude").symlink_to("/", target_is_directory=True)
    assert kept.fresh().folder(str(root)) is None
    assert capture.transcripts([root], kept.fresh()) == []
