"""Support for the analyzer tests (no tests here): hand-made skills, inventories, git repos and HTTP servers."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml


def write_skill(
    parent: Path,
    folder: str,
    *,
    name: str | None = None,
    description: str | None = "Formats SQL files. Use when the user asks to format or lint SQL.",
    body: str = "# Steps\n\n1. Run the formatter.\n",
    extra: dict[str, Any] | None = None,
    files: dict[str, str] | None = None,
    raw_frontmatter: str | None = None,
) -> Path:
    """A skill folder with SKILL.md (frontmatter from the arguments) and any supporting files."""
    d = parent / folder
    d.mkdir(parents=True, exist_ok=True)
    if raw_frontmatter is not None:
        text = raw_frontmatter + body
    else:
        fm: dict[str, Any] = {}
        fm["name"] = folder if name is None else name
        if description is not None:
            fm["description"] = description
        fm.update(extra or {})
        text = "---\n" + yaml.safe_dump(fm, sort_keys=False, allow_unicode=True, width=10_000) + "---\n" + body
    (d / "SKILL.md").write_text(text, encoding="utf-8")
    for rel, content in (files or {}).items():
        p = d / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content, encoding="utf-8")
    return d


def skill_entry(
    path: Path,
    *,
    scope: str = "project",
    agent: str = "claude-code",
    is_link: bool = False,
    extra_locations: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One canonical skill as the inventory (issue 4's contract) lists it."""
    text = (path / "SKILL.md").read_text(encoding="utf-8")
    try:
        fm = yaml.safe_load(text.split("---", 2)[1]) if text.startswith("---") else {}
    except yaml.YAMLError:
        fm = {}  # a broken frontmatter is what some tests are about
    fm = fm if isinstance(fm, dict) else {}
    digest = hashlib.sha256(text.encode()).hexdigest()
    return {
        "id": "sk_" + hashlib.sha256(str(path).encode()).hexdigest()[:16],
        "name": str(fm.get("name") or path.name),
        "description": fm.get("description") if isinstance(fm.get("description"), str) else None,
        "content_hash": digest,
        "locations": [
            {"path": str(path), "agent": agent, "scope": scope, "is_link": is_link},
            *(extra_locations or []),
        ],
        "files": [],
        "findings": [],
    }


def inventory(*entries: dict[str, Any]) -> dict[str, Any]:
    return {
        "schema_version": "1.0",
        "generated_at": "2026-01-01T00:00:00Z",
        "roots": [],
        "skills": list(entries),
        "manifests": [],
    }


def by_name(out: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """An analyzer output's per-skill results, keyed by skill name."""
    return {s["skill"]["name"]: s for s in out["skills"]}


def write_inventory(path: Path, inv: dict[str, Any]) -> Path:
    path.write_text(json.dumps(inv))
    return path


# -- git -------------------------------------------------------------------------------------------------


def git(
    repo: Path,
    *args: str,
    author: tuple[str, str] = ("Ada", "ada@example.org"),
    date: str | None = None,
    check: bool = True,
) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": author[0],
        "GIT_AUTHOR_EMAIL": author[1],
        "GIT_COMMITTER_NAME": author[0],
        "GIT_COMMITTER_EMAIL": author[1],
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    if date:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = date
    proc = subprocess.run(["git", "-C", str(repo), *args], env=env, capture_output=True, text=True, check=check)
    return proc.stdout


def init_repo(repo: Path) -> Path:
    repo.mkdir(parents=True, exist_ok=True)
    git(repo, "init", "-q", "-b", "main")
    return repo


def commit_all(repo: Path, message: str, *, author: tuple[str, str], date: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message, author=author, date=date)
    return git(repo, "rev-parse", "HEAD").strip()


# -- HTTP ------------------------------------------------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Server:
    url: str
    requests: list[Request] = field(default_factory=list)


Handler = Callable[[Request], tuple[int, Any]]  # → (status, JSON-able body); may sleep to provoke a timeout


@contextmanager
def serve(handler: Handler) -> Iterator[Server]:
    """A real HTTP server on 127.0.0.1 in a thread, answering every request with `handler`."""
    box: Server = Server(url="")

    class H(BaseHTTPRequestHandler):
        def _do(self) -> None:
            n = int(self.headers.get("content-length") or 0)
            req = Request(
                self.command,
                self.path,
                {k.lower(): v for k, v in self.headers.items()},
                self.rfile.read(n) if n else b"",
            )
            box.requests.append(req)
            status, body = handler(req)
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        do_GET = do_POST = _do

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
    httpd.daemon_threads = True
    box.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield box
    finally:
        httpd.shutdown()
        httpd.server_close()


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: connection refused, like being offline."""
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"


def messages_reply(payload: dict[str, Any]) -> dict[str, Any]:
    """A Messages API response whose text is `payload` as JSON."""
    return {
        "id": "msg_test",
        "type": "message",
        "role": "assistant",
        "model": "test-model",
        "content": [{"type": "text", "text": json.dumps(payload)}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 10, "output_tokens": 10},
    }
