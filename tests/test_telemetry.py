"""Opt-in org signals: real transcripts ingested by the real TranscriptTailer, the outbox the store's triggers
fill, and a PostHog stand-in on 127.0.0.1 that takes batch requests (and can fail, like a real one)."""

from __future__ import annotations

import getpass
import json
import sqlite3
import threading
import time
import types
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from conftest import IsolatedHome
from transcript_corpus import copy_projects

from skill_insights.cli import cli
from skill_insights.collectors.transcripts import TranscriptTailer
from skill_insights.daemon.jobs import register_background_jobs
from skill_insights.daemon.scheduler import Scheduler
from skill_insights.pricing import PriceTable
from skill_insights.settings import get_paths
from skill_insights.store import open_db, open_reader
from skill_insights.telemetry import signals
from skill_insights.telemetry.sender import BACKOFF_BASE_S, drain

SCENARIOS = ["skill", "mcp_tool", "subagent", "bash_tool"]
REMOTE = "github.com/acme/widgets"


class PostHogStandIn:
    """Takes `POST /batch/` like PostHog: answers from `plan` (200 once it is empty) and keeps each event
    once by uuid, as PostHog's ingestion does. 'lost' stores the batch, then answers 500 (an answer lost)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []  # every request, whatever the answer
        self.stored: dict[str, dict[str, Any]] = {}  # uuid → event
        self.stored_count: dict[str, int] = {}  # uuid → how many times a batch holding it was stored
        self.plan: list[int | str] = []
        self.lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                doc = json.loads(body)
                with stand_in.lock:
                    stand_in.requests.append({"path": self.path, "body": doc})
                    step = stand_in.plan.pop(0) if stand_in.plan else 200
                    if step in (200, "lost"):
                        for ev in doc.get("batch", []):
                            stand_in.stored.setdefault(ev["uuid"], ev)
                            stand_in.stored_count[ev["uuid"]] = stand_in.stored_count.get(ev["uuid"], 0) + 1
                status = 500 if step == "lost" else int(step)
                answer = b'{"status": "Ok"}' if status == 200 else b'{"detail": "refused by the stand-in"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def batches(self) -> list[list[dict[str, Any]]]:
        return [r["body"]["batch"] for r in self.requests if r["path"] == "/batch/"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def posthog() -> Iterator[PostHogStandIn]:
    s = PostHogStandIn()
    yield s
    s.close()


@pytest.fixture
def world(isolated_home: IsolatedHome, monkeypatch: pytest.MonkeyPatch, posthog: PostHogStandIn) -> dict[str, Path]:
    # Everything under the conftest's root (home, store, checkout, transcripts): a payload naming it leaks a path.
    tmp = isolated_home.root
    monkeypatch.setenv("SKILL_INSIGHTS_POSTHOG_KEY", "phc_test_project_key")
    monkeypatch.setenv("SKILL_INSIGHTS_POSTHOG_HOST", posthog.url)
    # The sessions' folder is a git checkout with a remote, so gitRepo has something to normalise.
    repo = tmp / "work" / "widgets"
    (repo / ".git").mkdir(parents=True)
    (repo / ".git" / "config").write_text('[remote "origin"]\n\turl = git@github.com:acme/widgets.git\n')
    projects = copy_projects(tmp / "claude", "2.1.330", SCENARIOS)
    for f in projects.rglob("*.jsonl"):
        f.write_bytes(f.read_bytes().replace(b"/home/dev/project", str(repo).encode()))
    return {"tmp": tmp, "projects": projects, "repo": repo}


def ingest(paths: list[Path]) -> None:
    db = open_db(get_paths().database)
    try:
        TranscriptTailer(db, PriceTable.load(None)).ingest_paths(sorted(paths))
    finally:
        db.conn.close()


def ingest_all(world: dict[str, Path]) -> None:
    ingest(list(world["projects"].rglob("*.jsonl")))


def run(*args: str) -> Any:
    r = CliRunner().invoke(cli, list(args))
    assert r.exit_code == 0, r.output
    return r


def enable_before_the_corpus() -> None:
    """`telemetry enable`, dated before the fixture sessions were recorded: consent covers activity from the
    moment it was given, and these sessions happened in the past."""
    run("telemetry", "enable")
    conn = sqlite3.connect(get_paths().database, isolation_level=None)
    conn.execute("UPDATE telemetry_state SET changed_at = '2026-01-01T00:00:00Z'")
    conn.close()


def outbox(status: str | None = None) -> list[tuple]:
    conn = open_reader(get_paths().database)
    try:
        sql = "SELECT event, key, status, attempts, next_attempt_at, last_error FROM telemetry_outbox"
        return conn.execute(sql + (" WHERE status = ?" if status else ""), [status] if status else []).fetchall()
    finally:
        conn.close()


def flush_counts(output: str) -> dict[str, int]:
    # "sent 3, retried 0, parked 0, ..."
    parts = output.strip().split(" (")[0].split(", ")
    return {p.split(" ")[0]: int(p.split(" ")[1]) for p in parts}


def expected_keys(world: dict[str, Path]) -> set[tuple[str, str]]:
    """(event, key) of every skill/MCP activation and session in the corpus, read from the transcripts."""
    keys: set[tuple[str, str]] = set()
    for f in world["projects"].rglob("*.jsonl"):
        if f.parent.name != "subagents":
            keys.add((signals.SESSION_PROCESSED, f.stem))  # a file is a session (a fork's copy is a new one)
        for line in f.read_bytes().splitlines():
            doc = orjson.loads(line)
            if doc.get("type") == "assistant":
                for block in doc["message"].get("content") or []:
                    if block.get("type") == "tool_use" and block["name"] == "Skill":
                        keys.add((signals.SKILL_ACTIVATION, block["id"]))
                    elif block.get("type") == "tool_use" and block["name"].startswith("mcp__"):
                        keys.add((signals.MCP_ACTIVATION, block["id"]))
            if doc.get("sessionId"):
                keys.add((signals.SESSION_PROCESSED, doc["sessionId"]))
    return keys


# -- consent ---------------------------------------------------------------------------------------------------


def test_off_by_default_the_server_receives_nothing(world, posthog):
    ingest_all(world)
    assert outbox() == []  # the triggers queued nothing
    r = run("telemetry", "flush")
    assert "sent 0" in r.output and "disabled" in r.output
    assert "telemetry: disabled" in run("telemetry", "status").output
    assert json.loads(run("telemetry", "status", "--show-payload").output) == []
    assert posthog.requests == []


@pytest.mark.parametrize("refusal", [("DO_NOT_TRACK", "1"), ("SKILL_INSIGHTS_TELEMETRY", "0")])
def test_the_environment_wins_over_enable_and_what_was_queued_is_never_sent(world, posthog, monkeypatch, refusal):
    enable_before_the_corpus()
    ingest_all(world)
    assert len(outbox("pending")) > 0
    monkeypatch.setenv(*refusal)
    assert json.loads(run("telemetry", "status", "--show-payload").output) == []
    r = run("telemetry", "flush")
    assert "sent 0" in r.output
    # The daemon's sender too.
    daemon = types.SimpleNamespace(paths=get_paths(), stats={})
    scheduler = Scheduler()
    register_background_jobs(scheduler, daemon)
    scheduler.trigger("telemetry.send")
    scheduler.run_due()
    daemon.telemetry_sender.thread.join(10)
    assert posthog.requests == []
    assert outbox() == []  # dropped, not kept for later
    monkeypatch.delenv(refusal[0])
    run("telemetry", "flush")
    assert posthog.requests == []


def test_disable_stops_sending_at_once_and_drops_the_queue(world, posthog):
    enable_before_the_corpus()
    ingest_all(world)
    queued = len(outbox("pending"))
    assert queued >= 5
    r = run("telemetry", "disable")
    assert f"{queued} queued events dropped" in r.output
    assert json.loads(run("telemetry", "status", "--show-payload").output) == []
    run("telemetry", "flush")
    assert posthog.requests == []
    # While disabled, new activity queues nothing either.
    extra = world["projects"] / "-home-dev-project" / "copy-of-skill.jsonl"
    src = next(world["projects"].rglob("19c3eab1-*.jsonl"))
    extra.write_bytes(src.read_bytes().replace(b"19c3eab1-cb1e", b"29c3eab1-cb1e").replace(b"toolu_", b"toolu_x"))
    ingest([extra])
    assert outbox() == []


def test_first_enable_shows_what_is_sent_and_later_ones_do_not(world):
    first = run("telemetry", "enable").output
    for event, props in signals.ALLOWED.items():
        assert event in first
        assert all(p in first for p in props)
    assert "Never sent" in first
    again = run("telemetry", "enable").output
    assert "Never sent" not in again and "telemetry enabled" in again


# -- delivery ------------------------------------------------------------------------------------------------


def test_an_outage_then_recovery_delivers_every_event_exactly_once_by_uuid(world, posthog):
    enable_before_the_corpus()
    ingest_all(world)
    # A fork: another file repeating the skill session's lines (same tool ids) adds no event.
    src = next(world["projects"].rglob("19c3eab1-*.jsonl"))
    fork = src.with_name("fork-of-skill.jsonl")
    fork.write_bytes(src.read_bytes())
    ingest([fork])
    want = expected_keys(world)
    assert {(e, k) for e, k, *_ in outbox("pending")} == want

    posthog.plan = [503, 503, 503, "lost"]
    first = flush_counts(run("telemetry", "flush").output)
    assert first["sent"] == 0 and first["retried"] == len(want)
    pending = outbox("pending")
    assert all(
        attempts == 1 and err.startswith("HTTP 503") and nxt > time.time() + BACKOFF_BASE_S * 0.9
        for _, _, _, attempts, nxt, err in pending
    )
    # The daemon's pass respects the backoff: nothing is due yet.
    conn = open_reader(get_paths().database)
    assert drain(conn).sent == 0
    conn.close()
    assert len(posthog.requests) == 1

    for _ in range(6):  # `flush` tries now, whatever the backoff
        run("telemetry", "flush")
    assert outbox("pending") == []
    assert len(outbox("sent")) == len(want)
    # Every attempt carried the same uuid for the same event, and the store kept each once.
    uuids_per_attempt = [sorted(e["uuid"] for e in batch) for batch in posthog.batches()]
    assert uuids_per_attempt[0] == uuids_per_attempt[-1]
    assert sorted(posthog.stored) == uuids_per_attempt[-1]
    assert {(e["event"], e["properties"].get("sessionId")) for e in posthog.stored.values()} >= {
        (signals.SESSION_PROCESSED, k) for ev, k in want if ev == signals.SESSION_PROCESSED
    }
    assert len(posthog.stored) == len(want)
    # At least once: the batch whose answer was lost was stored twice, one event each time.
    assert set(posthog.stored_count.values()) == {2}
    before = len(posthog.requests)
    run("telemetry", "flush")
    assert len(posthog.requests) == before  # nothing left to send


def test_a_4xx_parks_the_batch_with_its_reason_and_it_is_not_resent(world, posthog):
    enable_before_the_corpus()
    ingest_all(world)
    n = len(outbox("pending"))
    posthog.plan = [400]
    counts = flush_counts(run("telemetry", "flush").output)
    assert counts["parked"] == n and counts["sent"] == 0
    assert {err for *_, err in outbox("parked")} == {"HTTP 400: refused by the stand-in"}
    status = run("telemetry", "status").output
    assert f"{n} parked" in status and "refused by the stand-in" in status
    run("telemetry", "flush")
    assert len(posthog.requests) == 1
    # Once what was refused is fixed, the parked events can be queued again.
    counts = flush_counts(run("telemetry", "flush", "--retry-parked").output)
    assert counts["sent"] == n and outbox("parked") == []
    assert len(posthog.stored) == n


def test_show_payload_prints_exactly_what_leaves(world, posthog):
    enable_before_the_corpus()
    ingest_all(world)
    shown = json.loads(run("telemetry", "status", "--show-payload").output)
    run("telemetry", "flush")
    [sent] = posthog.batches()
    assert shown == sent
    assert {e["event"] for e in sent} == set(signals.ALLOWED)
    skill = next(e for e in sent if e["event"] == signals.SKILL_ACTIVATION)
    assert skill["properties"]["skillName"] == "demo-skill"
    assert skill["properties"]["gitRepo"] == REMOTE
    assert skill["properties"]["provider"] == "claude-code"
    assert skill["timestamp"].startswith("2026-11-22T10:47")
    mcp = next(e for e in sent if e["event"] == signals.MCP_ACTIVATION)
    assert mcp["properties"]["tool"] == "mcp__demo__echo"
    session = next(
        e
        for e in sent
        if e["event"] == signals.SESSION_PROCESSED and e["properties"]["sessionId"] == skill["properties"]["sessionId"]
    )
    assert session["properties"]["sessionGitRepo"] == REMOTE
    assert session["properties"]["totalSkillCalls"] == 1 and session["properties"]["totalToolCalls"] == 2
    assert session["properties"]["model"] == "claude-sonnet-4-5"
    assert json.loads(run("telemetry", "status", "--show-payload").output) == []  # all sent


def _strings(doc: Any) -> Iterator[str]:
    if isinstance(doc, str):
        yield doc
    elif isinstance(doc, dict):
        for k, v in doc.items():
            yield k
            yield from _strings(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from _strings(v)


def test_a_payload_scan_finds_no_prompt_text_path_or_file_content(world, posthog):
    # An installed skill whose folder and body must not leave, only its name.
    skill_dir = world["repo"] / ".claude" / "skills" / "demo-skill"
    skill_dir.mkdir(parents=True)
    (skill_dir / "SKILL.md").write_text("---\nname: demo-skill\ndescription: A demo.\n---\nSECRET BODY LINE\n")
    run("scan", str(world["repo"]), "--no-registry")
    enable_before_the_corpus()
    ingest_all(world)
    run("telemetry", "flush")
    sent = [e for batch in posthog.batches() for e in batch]
    assert sent
    skill = next(e for e in sent if e["event"] == signals.SKILL_ACTIVATION)
    assert {"name": "demo-skill", "scope": "project", "tile": None} in skill["properties"]["installedSkills"]

    private: set[str] = {str(world["tmp"]), "/home/dev", str(Path.home()), "SECRET BODY LINE", "acme/widgets.git"}
    user = getpass.getuser()
    for f in world["projects"].rglob("*.jsonl"):
        for line in f.read_bytes().splitlines():
            doc = orjson.loads(line)
            message = doc.get("message") if isinstance(doc.get("message"), dict) else {}
            content = message.get("content")
            blocks = [content] if isinstance(content, str) else content or []
            for b in blocks:
                text = b if isinstance(b, str) else (b.get("text") or b.get("content") or b.get("thinking"))
                if isinstance(text, str) and len(text.strip()) >= 12:
                    private.add(text.strip()[:60])
            if doc.get("type") == "queue-operation" and isinstance(doc.get("content"), str):
                private.add(doc["content"])
    assert "use the demo skill" in private
    dump = json.dumps(posthog.requests)
    for text in private:
        assert text not in dump, text
    for s in _strings([e["properties"] for e in sent]):
        assert not s.startswith(("/", "~")) and "@" not in s and " " not in s, s
        assert user not in s or user in REMOTE, s
    for e in sent:
        assert set(e) <= {"event", "distinct_id", "uuid", "properties", "type", "timestamp"}
        assert set(e["properties"]) <= set(signals.ALLOWED[e["event"]])


def test_a_session_is_sent_once_when_it_has_gone_idle(world, posthog, tmp_path):
    (Path(get_paths().config_file)).parent.mkdir(parents=True, exist_ok=True)
    get_paths().config_file.write_text(json.dumps({"telemetry": {"session_idle_minutes": 0.02}}))  # 1.2 s
    run("telemetry", "enable")
    session = world["projects"] / "-home-dev-project" / "live-session.jsonl"

    def line(n: int) -> bytes:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        return (
            orjson.dumps(
                {
                    "type": "assistant",
                    "sessionId": "live-session",
                    "timestamp": ts,
                    "requestId": f"req_live{n}",
                    "cwd": str(world["repo"]),
                    "message": {
                        "id": f"msg_live{n}",
                        "model": "claude-sonnet-4-5",
                        "usage": {"input_tokens": 3, "output_tokens": 5},
                        "content": [{"type": "text", "text": "working"}],
                    },
                }
            )
            + b"\n"
        )

    session.write_bytes(line(1))
    ingest([session])

    def live_events() -> list[dict[str, Any]]:
        shown = json.loads(run("telemetry", "status", "--show-payload").output)
        return [e for e in shown if e["properties"].get("sessionId") == "live-session"]

    assert live_events() == []  # still active: not finished yet
    assert any(k == "live-session" for _, k, *_ in outbox("pending"))
    time.sleep(1.5)
    [ev] = live_events()
    assert ev["properties"]["outputTokens"] == 5
    run("telemetry", "flush")
    # Appending to a session already reported does not report it again.
    with session.open("ab") as fh:
        fh.write(line(2))
    ingest([session])
    time.sleep(1.5)
    run("telemetry", "flush")
    live = [e for e in posthog.stored.values() if e["properties"].get("sessionId") == "live-session"]
    posted = [e for b in posthog.batches() for e in b if e["properties"].get("sessionId") == "live-session"]
    assert len(live) == 1 and len(posted) == 1


def test_the_daemon_job_sends_on_its_own_thread(world, posthog):
    enable_before_the_corpus()
    ingest_all(world)
    daemon = types.SimpleNamespace(paths=get_paths(), stats={})
    scheduler = Scheduler()
    register_background_jobs(scheduler, daemon)
    assert "telemetry.send" in scheduler.jobs
    scheduler.trigger("telemetry.send")
    started = time.monotonic()
    scheduler.run_due()
    assert time.monotonic() - started < 0.5  # the loop is not held while the batch is posted
    daemon.telemetry_sender.thread.join(20)
    assert daemon.telemetry_sender.last is not None and daemon.telemetry_sender.last.sent == len(expected_keys(world))
    assert outbox("pending") == []
    assert len(posthog.stored) == len(expected_keys(world))


def test_distinct_id_is_the_install_id_unless_the_user_sets_one(world, posthog):
    enable_before_the_corpus()
    r = run("telemetry", "enable")
    install_id = r.output.split("install id ")[1].split(")")[0]
    ingest_all(world)
    shown = json.loads(run("telemetry", "status", "--show-payload").output)
    assert {e["distinct_id"] for e in shown} == {install_id}
    get_paths().config_file.write_text(json.dumps({"telemetry": {"distinct_id": "team-laptop-7"}}))
    shown2 = json.loads(run("telemetry", "status", "--show-payload").output)
    assert {e["distinct_id"] for e in shown2} == {"team-laptop-7"}
    assert [e["uuid"] for e in shown2] == [e["uuid"] for e in shown]  # the uuid follows the install, not the name


def test_outbox_rows_are_written_in_the_capture_transaction(world):
    """The trigger's row commits or rolls back with the events row it describes."""
    run("telemetry", "enable")
    conn = sqlite3.connect(get_paths().database, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(
        "INSERT INTO events (file_id, kind, key, session_id, ts, name) VALUES (1, 'skill', 'toolu_rb', 's', ?, 'x')",
        [time.time()],
    )
    assert conn.execute("SELECT count(*) FROM telemetry_outbox WHERE key = 'toolu_rb'").fetchone()[0] == 1
    conn.execute("ROLLBACK")
    assert conn.execute("SELECT count(*) FROM telemetry_outbox").fetchone()[0] == 0
    conn.execute(
        "INSERT INTO events (file_id, kind, key, session_id, ts, name) VALUES (1, 'tool', 'toolu_t', 's', ?, 'Bash')",
        [time.time()],
    )
    assert conn.execute("SELECT count(*) FROM telemetry_outbox").fetchone()[0] == 0  # not an allowed kind
    conn.close()


# -- the allow-list, as pure functions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["/home/me/x", "~/x", "C:\\Users\\me", "..\\x", "me@example.com", "two words", "a" * 201, "../up", "x//y"]
)
def test_private_looking_values_are_dropped(value):
    assert signals.safe_text(value) is None
    props = signals.allowed(signals.SKILL_ACTIVATION, {"skillName": value, "provider": "claude-code"})
    assert props == {"provider": "claude-code"}


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("github.com/acme/widgets", True),
        ("/srv/git/widgets", False),
        ("widgets", False),
        ("git@github.com:acme/w", False),
    ],
)
def test_only_a_normalised_remote_passes_as_git_repo(value, kept):
    props = signals.allowed(signals.MCP_ACTIVATION, {"gitRepo": value})
    assert ("gitRepo" in props) is kept


def test_properties_outside_the_allow_list_never_leave():
    doc = signals.envelope(
        signals.SKILL_ACTIVATION,
        "toolu_1",
        {"skillName": "review", "prompt": "hello there", "cwd": "/home/me", "email": "me@x.io"},
        1.0e9,
        "install",
        None,
    )
    assert doc["properties"] == {"skillName": "review"}
    assert doc["uuid"] == signals.event_uuid("install", signals.SKILL_ACTIVATION, "toolu_1")
    assert doc["uuid"] != signals.event_uuid("other-install", signals.SKILL_ACTIVATION, "toolu_1")


def test_the_idle_sender_never_waits_for_the_capture_write_lock(world, posthog):
    """With telemetry off (every daemon pass) or nothing to prune, the sender only reads: it must not queue
    behind an ingest holding the write lock."""
    ingest_all(world)
    writer = sqlite3.connect(get_paths().database, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        reader = sqlite3.connect(get_paths().database, timeout=0.05, isolation_level=None)
        result = drain(reader)  # "database is locked" if it tried to write
        assert result.sent == 0 and result.skipped == "telemetry is disabled"
        reader.close()
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert posthog.requests == []


def test_sent_events_are_forgotten_after_90_days_and_kept_before(world, posthog):
    enable_before_the_corpus()
    ingest_all(world)
    run("telemetry", "flush")
    n = len(outbox("sent"))
    conn = sqlite3.connect(get_paths().database, isolation_level=None)
    conn.execute(
        "UPDATE telemetry_outbox SET sent_at = '2020-01-01T00:00:00Z' WHERE id = (SELECT min(id) FROM telemetry_outbox)"
    )
    conn.close()
    run("telemetry", "flush")
    assert len(outbox("sent")) == n - 1


def test_activity_from_before_consent_is_never_queued(world, posthog):
    run("telemetry", "enable")
    ingest_all(world)  # sessions recorded weeks ago
    assert outbox() == []
    run("telemetry", "enable")  # enabling again does not move the moment consent was given
    # A re-derivation writes every row again: still nothing from before.
    conn = sqlite3.connect(get_paths().database, isolation_level=None)
    conn.execute("UPDATE files SET processor_version = 0")
    conn.close()
    ingest_all(world)
    assert outbox() == []
    run("telemetry", "flush")
    assert posthog.requests == []
