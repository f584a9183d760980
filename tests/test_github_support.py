"""Test material for the GitHub session reports: a fake GitHub REST API served on 127.0.0.1 (comments kept in
memory, Link pagination, rate limits on demand) and a store built from the real-client fixtures.

The helpers are imported by the other test_github* / test_session_stats* modules; the tests here check the
fake itself against the real client's expectations (pagination, auth)."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import IsolatedHome
from transcript_corpus import FIXTURES

TOKEN = "test-token-not-secret"
SKILL_SID = "9a2457df-c475-40c5-8584-625556b63d70"
SUBAGENT_SID = "3e418548-75f1-449a-bd33-729418de8c99"
# The 2.1.197 skill session runs 2026-11-22T10:48:27.862Z .. 10:48:28.315Z.
IN_SESSION = "2026-11-22T10:48:28+00:00"
BEFORE_SESSION = "2026-11-22T10:40:00+00:00"
AFTER_SESSION = "2026-11-22T10:49:30+00:00"

WORKFLOW_SKILL = """---
name: demo-skill
description: Runs the demo command. Use when asked to use the demo skill.
---
# Demo

```mermaid
flowchart TD
    START[demo-skill] -->|run| RUN[Bash]
    RUN -->|retry| RUN
    RUN --> DONE[Write]
    START --> LOOK[Read]
```
"""


@dataclass
class FakeState:
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)
    pulls: dict[int, dict[str, Any]] = field(default_factory=dict)
    comments: list[dict[str, Any]] = field(default_factory=list)
    runs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    # The next this-many requests answer 403 with exhausted rate-limit headers (reset in `rate_reset_s`).
    rate_limited: int = 0
    rate_reset_s: float = 1.0
    rate_limited_at: list[float] = field(default_factory=list)
    # Set: the limited answers are secondary limits (403 + retry-after, requests left) instead; "": no header.
    rate_retry_after: str | None = None
    next_id: int = 1000
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_issue(
        self,
        number: int,
        title: str = "an issue",
        *,
        pr: dict[str, Any] | None = None,
        state: str = "open",
        created_at: str = "2026-11-21T09:00:00Z",
        author: str = "dev",
    ) -> None:
        item = {
            "number": number,
            "title": title,
            "state": state,
            "user": {"login": author},
            "created_at": created_at,
            "updated_at": "2026-11-23T09:00:00Z",
        }
        if pr is not None:
            item["pull_request"] = {"url": f"/pulls/{number}"}
            self.pulls[number] = {
                "number": number,
                "title": title,
                "state": state,
                "created_at": created_at,
                "user": {"login": author},
                "merged_at": None,
                "additions": 10,
                "deletions": 2,
                "review_comments": 1,
                **pr,
            }
        self.issues[number] = item

    def thread(self, number: int) -> list[dict[str, Any]]:
        return [c for c in self.comments if c["issue"] == number]


class _Handler(BaseHTTPRequestHandler):
    state: FakeState
    base: str

    def log_message(self, *_args: object) -> None:
        pass

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _page(self, items: list[Any], query: dict[str, list[str]], path: str) -> None:
        per_page = int(query.get("per_page", ["30"])[0])
        page = int(query.get("page", ["1"])[0])
        chunk = items[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(items):
            rest = {k: v[0] for k, v in query.items() if k != "page"}
            qs = "&".join(f"{k}={v}" for k, v in {**rest, "page": page + 1}.items())
            headers["Link"] = f'<{self.base}{path}?{qs}>; rel="next", <{self.base}{path}?page=999>; rel="last"'
        self._send(200, chunk, headers)

    def _handle(self, method: str) -> None:
        st = self.state
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        parts = url.path.strip("/").split("/")
        with st.lock:
            st.requests.append((method, self.path))
            if st.rate_limited > 0:
                st.rate_limited -= 1
                st.rate_limited_at.append(time.time())
                if st.rate_retry_after == "":  # a secondary limit without any header
                    self._send(403, {"message": "You have exceeded a secondary rate limit."})
                    return
                if st.rate_retry_after is not None:
                    headers = {"retry-after": st.rate_retry_after, "x-ratelimit-remaining": "42"}
                else:
                    reset = str(int(time.time() + st.rate_reset_s))
                    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-limit": "60", "x-ratelimit-reset": reset}
                self._send(403, {"message": "API rate limit exceeded"}, headers)
                return
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._send(401, {"message": "Bad credentials"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"null") if length else None
        if len(parts) < 3 or parts[0] != "repos" or f"{parts[1]}/{parts[2]}" != "acme/widgets":
            self._send(404, {"message": "Not Found"})
            return
        rest = parts[3:]
        with st.lock:
            self._route(method, rest, query, body, url.path)

    def _route(self, method: str, rest: list[str], query: dict[str, list[str]], body: Any, path: str) -> None:
        st = self.state
        if rest[:2] == ["issues", "comments"] and len(rest) == 3 and method == "PATCH":
            for c in st.comments:
                if c["id"] == int(rest[2]):
                    c["body"] = body["body"]
                    c["updated"] = c.get("updated", 0) + 1
                    self._send(200, c)
                    return
            self._send(404, {"message": "Not Found"})
        elif rest[:1] == ["issues"] and len(rest) == 3 and rest[2] == "comments":
            number = int(rest[1])
            if number not in st.issues:
                self._send(404, {"message": "Not Found"})
            elif method == "POST":
                st.next_id += 1
                c = {
                    "id": st.next_id,
                    "issue": number,
                    "body": body["body"],
                    "user": {"login": "bot"},
                    "html_url": f"https://github.example/acme/widgets/issues/{number}#issuecomment-{st.next_id}",
                }
                st.comments.append(c)
                self._send(201, c)
            else:
                self._page(st.thread(number), query, path)
        elif rest == ["issues"] and method == "GET":
            since = query.get("since", [""])[0]
            items = [i for i in sorted(st.issues.values(), key=lambda i: i["number"]) if i["updated_at"] >= since]
            self._page(items, query, path)
        elif rest[:1] == ["issues"] and len(rest) == 2 and method == "GET":
            item = st.issues.get(int(rest[1]))
            self._send(200, item) if item else self._send(404, {"message": "Not Found"})
        elif rest == ["pulls"] and method == "GET":
            head = query.get("head", [""])[0]
            state = query.get("state", ["open"])[0]
            items = [
                p
                for p in st.pulls.values()
                if (not head or f"acme:{p['head']['ref']}" == head) and (state == "all" or p["state"] == state)
            ]
            self._page(items, query, path)
        elif rest[:1] == ["pulls"] and len(rest) == 2:
            pr = st.pulls.get(int(rest[1]))
            self._send(200, pr) if pr else self._send(404, {"message": "Not Found"})
        elif rest == ["actions", "runs"]:
            runs = st.runs.get(query.get("head_sha", [""])[0], [])
            self._send(200, {"total_count": len(runs), "workflow_runs": runs})
        else:
            self._send(404, {"message": "Not Found"})

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")


@pytest.fixture
def fake_github(monkeypatch: pytest.MonkeyPatch):
    """A fake GitHub API for the repository acme/widgets; GITHUB_API_URL and GITHUB_TOKEN point at it."""
    state = FakeState()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    server.RequestHandlerClass = type("Handler", (_Handler,), {"state": state, "base": base})
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("GITHUB_API_URL", base)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


# -- a store built from the real-client fixtures -------------------------------------------------------


def git(repo: Path, *args: str, when: str | None = None) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Dev",
        "GIT_AUTHOR_EMAIL": "dev@example.com",
        "GIT_COMMITTER_NAME": "Dev",
        "GIT_COMMITTER_EMAIL": "dev@example.com",
    }
    if when:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = when
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env
    ).stdout.strip()


def make_repo(path: Path, branch: str = "feature/demo") -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", branch)
    git(path, "remote", "add", "origin", "git@github.com:acme/widgets.git")
    return path


def commit(repo: Path, message: str, when: str) -> str:
    (repo / "log.txt").open("a").write(message + "\n")
    git(repo, "add", "log.txt")
    git(repo, "commit", "-q", "-m", message, when=when)
    return git(repo, "rev-parse", "HEAD")


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def session_file(scenario: str, sid: str) -> Path:
    return FIXTURES / "2.1.197" / scenario / "projects" / "-home-dev-project" / f"{sid}.jsonl"


def write_session(
    projects: Path,
    repo: Path,
    scenario: str,
    sid: str,
    *,
    branch: str | None = None,
    fail_first_bash: bool = False,
    new_sid: str | None = None,
    skill_name: str | None = None,
) -> Path:
    """A fixture session moved into `repo` (cwd rewritten); `fail_first_bash` adds a failed Bash call before
    the real one, as a retry; `new_sid`/`skill_name`/`branch` rename what the real client wrote."""
    src = session_file(scenario, sid)
    out_sid = new_sid or sid
    folder = projects / ("-" + str(repo).strip("/").replace("/", "-").replace(".", "-").replace("_", "-"))
    out: list[dict[str, Any]] = []
    for obj in _lines(src):
        text = json.dumps(obj).replace("/home/dev/project", str(repo)).replace(sid, out_sid)
        if new_sid:
            for prefix in ("msg_", "req_", "toolu_"):
                text = text.replace(f'"{prefix}', f'"{prefix}{out_sid[:4]}')
        obj = json.loads(text)
        if branch and "gitBranch" in obj:
            obj["gitBranch"] = branch
        content = (obj.get("message") or {}).get("content")
        if skill_name and isinstance(content, list):
            for b in content:
                if b.get("type") == "tool_use" and b.get("name") == "Skill":
                    b["input"]["skill"] = skill_name
        if (
            fail_first_bash
            and obj.get("type") == "assistant"
            and isinstance(content, list)
            and any(b.get("type") == "tool_use" and b.get("name") == "Bash" for b in content)
        ):
            failed = json.loads(json.dumps(obj))
            failed["message"]["id"] += "f"
            failed["requestId"] += "f"
            failed["uuid"] = failed["uuid"][:-1] + "f"
            failed["timestamp"] = obj["timestamp"].replace("28.187", "28.160")
            tid = next(b["id"] for b in content if b.get("type") == "tool_use")
            for b in failed["message"]["content"]:
                if b.get("type") == "tool_use":
                    b["id"] = tid + "f"
            result = {
                "type": "user",
                "sessionId": out_sid,
                "cwd": str(repo),
                "gitBranch": obj.get("gitBranch"),
                "uuid": obj["uuid"][:-2] + "ef",
                "timestamp": obj["timestamp"].replace("28.187", "28.170"),
                "message": {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": tid + "f", "is_error": True, "content": "Exit code 1"}
                    ],
                },
            }
            out += [failed, result]
        out.append(obj)
    target = folder / f"{out_sid}.jsonl"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("".join(json.dumps(o) + "\n" for o in out))
    sub = src.parent / sid / "subagents"
    if sub.is_dir():
        for f in sub.iterdir():
            t = folder / out_sid / "subagents" / f.name
            t.parent.mkdir(parents=True, exist_ok=True)
            t.write_text(f.read_text().replace("/home/dev/project", str(repo)).replace(sid, out_sid))
    return target


@dataclass
class World:
    home: Path
    repo: Path
    projects: Path
    db_path: Path
    shas: dict[str, str]


def ingest(projects: Path) -> None:
    """The real tailer over every transcript under `projects`, then the rollups."""
    from skill_insights.collectors.transcripts import TranscriptTailer, discover
    from skill_insights.pricing import PriceTable
    from skill_insights.settings import get_paths
    from skill_insights.store import open_db
    from skill_insights.usage import catch_up

    db = open_db(get_paths().ensure().database)
    TranscriptTailer(db, PriceTable.load()).ingest_paths(discover([projects]))
    catch_up(db)
    db.conn.close()


def scan_skills() -> None:
    from click.testing import CliRunner

    from skill_insights.cli import cli

    r = CliRunner().invoke(cli, ["scan", "--no-agent-dirs", "--no-registry"])
    assert r.exit_code == 0, r.output


@pytest.fixture
def world(tmp_path: Path, isolated_home: IsolatedHome, offline_tessl_registry: None) -> World:
    """The conftest's HOME, store and Claude folder; in tmp_path a git repo (acme/widgets, branch feature/demo)
    with commits before, during and after the skill session; that session (with a failed Bash retried) and the
    subagent session ingested by the real tailer; the skill's SKILL.md (a flowchart) scanned."""
    home = isolated_home.home
    repo = make_repo(tmp_path / "repo")
    shas = {
        "before": commit(repo, "Before the session", BEFORE_SESSION),
        "during": commit(repo, "Fix the widget <b>@team</b> | `x`", IN_SESSION),
        "after": commit(repo, "After the session", AFTER_SESSION),
    }
    skill = repo / ".claude" / "skills" / "demo-skill"
    skill.mkdir(parents=True)
    (skill / "SKILL.md").write_text(WORKFLOW_SKILL)
    projects = isolated_home.claude / "projects"
    write_session(projects, repo, "skill", SKILL_SID, fail_first_bash=True)
    write_session(projects, repo, "subagent", SUBAGENT_SID)
    ingest(projects)
    scan_skills()
    from skill_insights.settings import get_paths

    return World(home, repo, projects, get_paths().database, shas)


def reader(world: World):
    from skill_insights.store import open_reader

    return open_reader(world.db_path)


# -- the fake itself -----------------------------------------------------------------------------------


def test_fake_paginates_with_link_headers_and_checks_the_token(fake_github: FakeState) -> None:
    from skill_insights.github.client import GitHub, GitHubError, api_url

    fake_github.add_issue(7)
    fake_github.comments += [{"id": i, "issue": 7, "body": f"c{i}"} for i in range(1, 251)]
    with GitHub(TOKEN, api_url()) as gh:
        got = gh.issue_comments("acme/widgets", 7)
    assert [c["id"] for c in got] == list(range(1, 251))
    pages = [p for m, p in fake_github.requests if "/issues/7/comments" in p]
    assert len(pages) == 3 and "page=3" in pages[-1]
    with GitHub("wrong", api_url()) as gh, pytest.raises(GitHubError, match="401 Bad credentials") as e:
        gh.issue_comments("acme/widgets", 7)
    assert "wrong" not in str(e.value)
