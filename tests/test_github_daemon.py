"""The daemon posts a session's report to GitHub after its SessionEnd, only for a repository that opted in:
a real daemon process, a fake GitHub API on 127.0.0.1, the store built from the real-client fixtures."""

from __future__ import annotations

import json
import os
import stat

from test_daemon_support import DaemonProc, wait_for
from test_github_support import SKILL_SID, FakeState, fake_github, world  # noqa: F401

from skill_insights.github import render
from skill_insights.settings import get_paths


def _session_end(world) -> bytes:  # noqa: F811
    transcript = next(world.projects.rglob(f"{SKILL_SID}.jsonl"))
    payload = {"hook_event_name": "SessionEnd", "session_id": SKILL_SID, "transcript_path": str(transcript)}
    return json.dumps({**payload, "reason": "other"}).encode()


def _daemon(world):  # noqa: F811
    env = dict(os.environ, SKILL_INSIGHTS_GITHUB_S="1", SKILL_INSIGHTS_FIRST_SCAN_S="3600")
    return DaemonProc(env, "--projects-dir", str(world.projects))


def test_session_end_posts_the_report_to_the_branchs_pull_request(world, fake_github: FakeState) -> None:  # noqa: F811
    fake_github.add_issue(12, pr={"head": {"ref": "feature/demo", "sha": "abc"}})
    cfg = get_paths().config_file
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text('{"github": {"repos": {"acme/widgets": {"post_session_end": true}}}}')
    daemon = _daemon(world)
    try:
        daemon.wait_ready()
        daemon.send(_session_end(world))
        bodies = wait_for(lambda: [c["body"] for c in fake_github.thread(12)], timeout=60, what="the PR comment")
        assert render.marker_of(bodies[0]) == SKILL_SID[:8]
        log = get_paths().log_dir / "daemon.log"
        assert stat.S_IMODE(log.stat().st_mode) == 0o600  # the daemon creates its files private
    finally:
        daemon.stop()


def test_without_opt_in_the_daemon_asks_nothing_of_github(world, fake_github: FakeState) -> None:  # noqa: F811
    fake_github.add_issue(12, pr={"head": {"ref": "feature/demo", "sha": "abc"}})
    daemon = _daemon(world)
    try:
        daemon.wait_ready()
        daemon.send(_session_end(world))
        wait_for(
            lambda: any(j["name"] == "github.session_end" and j.get("runs", 0) >= 2 for j in daemon.status()["jobs"]),
            timeout=30,
            what="two passes of the job",
        )
        assert fake_github.requests == []
    finally:
        daemon.stop()
