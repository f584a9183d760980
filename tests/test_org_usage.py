"""`org-usage fetch` against a HogQL stand-in on 127.0.0.1: every query, the document and its schema, retries,
one-line errors, user values only ever inside `values`, and the comparison with this machine's skills."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import IsolatedHome

from skill_insights.cli import cli
from skill_insights.schemas.validate import schema_text, validate
from skill_insights.settings import get_paths
from skill_insights.store import open_reader
from skill_insights.telemetry import org_usage as ou
from skill_insights.telemetry.commands import fetch_org_usage
from skill_insights.telemetry.org_model import OrgUsage
from skill_insights.telemetry.org_model import schema_text as model_schema_text

PROJECT_ID = 4242
KEY = "phx_personal_test_key"
HOSTILE_REPO = "github.com/acme') OR 1=1 --"
HOSTILE_DOMAIN = "evil.com' OR '1'='1"


def _aliases(query: str) -> tuple[str, ...]:
    return tuple(re.findall(r"\bAS (\w+)", query))


def canned_rows() -> dict[tuple[str, ...], list[list[Any]]]:
    """Answers per query, keyed by the query's column aliases (filters change only its WHERE)."""
    f = ou.Filters([], [])
    return {
        _aliases(ou.q_filter_meta(f)): [[20, 4, 16, 20, 0, 0]],
        _aliases(ou.q_totals(f)): [[20, 5, 9, 12, 8, 18, 2, 4, 1]],
        _aliases(ou.q_tiles(f)): [["acme/review-kit", 12, 4, 6]],
        _aliases(ou.q_skill_detail(f)): [
            ["acme/review-kit", "code-review", 9, 4, 5, "2026-11-01 10:00:00", "2026-12-01 10:00:00", 9, 0],
            ["acme/review-kit", "review", 3, 2, 2, "2026-11-02 10:00:00", "2026-12-02 10:00:00", 3, 0],
        ],
        _aliases(ou.q_untiled(f)): [["release-notes", 8, 3]],
        _aliases(ou.q_mcp(f)): [["mcp__tessl__search", 7, 3, 4]],
        _aliases(ou.q_sessions(f)): [[11, 5, 300.0, 120.0, 20.0, 12.0, 7.0, 0.0]],
        _aliases(ou.q_loaded(f)): [["acme/review-kit", "code-review", "project", 4], ["", "idle", "user", 1]],
        _aliases(ou.q_repo_totals(f)): [["github.com/acme/widgets", 15, 4, 7, 10, 5, 15, 0, 4, 0]],
        _aliases(ou.q_tiles_by_repo(f)): [["acme/review-kit", "github.com/acme/widgets", 10, 4, 5]],
        _aliases(ou.q_skills_by_repo(f)): [["acme/review-kit", "code-review", "github.com/acme/widgets", 8, 4, 4]],
        _aliases(ou.q_untiled_by_repo(f)): [["release-notes", "github.com/acme/widgets", 5, 2]],
        _aliases(ou.q_mcp_by_repo(f)): [["mcp__tessl__search", "github.com/acme/widgets", 6, 3, 3]],
        _aliases(ou.q_sessions_by_repo(f)): [["github.com/acme/widgets", 9, 4, 250.0, 100.0, 15.0, 10.0, 6.0, 0.0]],
    }


class HogQLStandIn:
    """Answers `POST /api/projects/:id/query/` like PostHog's query API; `fail` is a list of statuses to answer
    first (then the canned rows)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail: list[int] = []
        self.rows = canned_rows()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                doc = json.loads(raw)
                stand_in.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": doc})
                if stand_in.fail:
                    self._answer(stand_in.fail.pop(0), {"detail": "try again later"})
                elif self.path != f"/api/projects/{PROJECT_ID}/query/":
                    self._answer(404, {"detail": "no such project"})
                elif self.headers.get("Authorization") != f"Bearer {KEY}":
                    self._answer(403, {"detail": "invalid personal API key"})
                else:
                    key = _aliases(doc["query"]["query"])
                    if key not in stand_in.rows:
                        self._answer(400, {"detail": f"unexpected query {key}"})
                    else:
                        self._answer(200, {"results": stand_in.rows[key], "columns": list(key)})

            def _answer(self, status: int, doc: dict[str, Any]) -> None:
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hogql() -> Iterator[HogQLStandIn]:
    s = HogQLStandIn()
    yield s
    s.close()


@pytest.fixture
def world(isolated_home: IsolatedHome, monkeypatch: pytest.MonkeyPatch, hogql: HogQLStandIn) -> dict[str, Path]:
    monkeypatch.setenv("SKILL_INSIGHTS_POSTHOG_HOST", hogql.url)
    monkeypatch.setenv("SKILL_INSIGHTS_POSTHOG_PROJECT_ID", str(PROJECT_ID))
    monkeypatch.setenv("SKILL_INSIGHTS_POSTHOG_PERSONAL_API_KEY", KEY)
    monkeypatch.delenv("POSTHOG_PERSONAL_API_KEY", raising=False)
    return {"tmp": isolated_home.root, "home": isolated_home.home}


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, ["org-usage", "fetch", *args])


def test_fetch_writes_a_document_valid_by_the_shipped_schema(world, hogql):
    out = world["tmp"] / "org_usage.json"
    r = invoke("--output", str(out), "--windows", "7,30")
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    validate(doc, "org-usage")
    OrgUsage.model_validate(doc)
    assert doc["windows"] == [7, 30] and doc["primary_window_days"] == 30
    assert doc["totals"]["30d"]["activations"] == 20
    assert doc["totals"]["30d"]["providers"]["claude-code"] == {"activations": 18, "users": 4}
    assert [s["name"] for s in doc["skills"]] == ["code-review", "review"]
    assert doc["skills"][0]["first_seen"] == "2026-11-01 10:00:00"
    assert doc["untiled_skills"][0] == {
        "name": "release-notes",
        "windows": {"7d": {"activations": 8, "users": 3}, "30d": {"activations": 8, "users": 3}},
    }
    assert doc["loaded_skills"][1]["tile"] is None
    assert doc["session_aggregates"]["7d"]["tessl_mcp_calls"] == 7
    assert doc["repos"][0]["repo"] == "github.com/acme/widgets"
    assert doc["session_aggregates_by_repo"]["30d"][0]["messages"] == 250
    assert doc["filter"]["events_per_window"]["30d"]["events_excluded_by_filter"] == 0  # no filter
    assert doc["source"] == {"kind": "posthog", "host": hogql.url, "project_id": PROJECT_ID}
    # The copy the report reads.
    assert json.loads((get_paths().data_dir / "org_usage.json").read_text()) == doc
    # Each window ran the same 14 queries, every one with the personal key.
    assert len(hogql.requests) == 14 * 2
    assert {r["auth"] for r in hogql.requests} == {f"Bearer {KEY}"}


def test_hostile_filter_values_reach_the_server_only_inside_values(world, hogql):
    out = world["tmp"] / "org.json"
    r = invoke(
        "--output",
        str(out),
        "--windows",
        "7",
        "--primary-window",
        "7",
        "--filter-repos",
        f"github.com/acme,{HOSTILE_REPO}",
        "--filter-email-domains",
        f"@acme.io,{HOSTILE_DOMAIN}",
    )
    assert r.exit_code == 0, r.output
    assert hogql.requests
    for req in hogql.requests:
        q = req["body"]["query"]
        assert q["kind"] == "HogQLQuery"
        for hostile in (HOSTILE_REPO, HOSTILE_DOMAIN, "1=1", "acme.io", "github.com/acme"):
            assert hostile not in q["query"], q["query"]
        assert q["values"]["repo_prefixes"] == ["github.com/acme", HOSTILE_REPO]
        assert q["values"]["email_domains"] == ["acme.io", HOSTILE_DOMAIN]
        assert q["values"]["days"] == 7
        assert "{repo_prefixes}" in q["query"] or "{email_domains}" in q["query"]
    # The follow-up queries carry the server's own tiles and repos as values too.
    follow = [r["body"]["query"] for r in hogql.requests if "{repos}" in r["body"]["query"]["query"]]
    assert follow and all(q["values"]["repos"] == ["github.com/acme/widgets"] for q in follow)
    doc = json.loads(out.read_text())
    assert doc["filter"]["repos"] == ["github.com/acme", HOSTILE_REPO]
    assert doc["filter"]["events_per_window"]["7d"]["events_excluded_by_filter"] == 0  # 20 of 20 matched


def test_502_503_504_are_retried_with_backoff(world, hogql):
    hogql.fail = [503, 502]
    conn = open_reader(get_paths().database)
    doc, _ = fetch_org_usage(
        conn,
        world["tmp"] / "o.json",
        windows="30",
        primary_window=30,
        filter_repos="",
        filter_email_domains="",
        host=None,
        project_id=None,
        key_file=None,
        config_dir=get_paths().config_dir,
        copy_to=None,
        backoff_s=(0.01, 0.01),
    )
    conn.close()
    assert doc["totals"]["30d"]["activations"] == 20
    assert len(hogql.requests) == 14 + 2


def test_an_outage_longer_than_the_retries_is_one_line_and_writes_nothing(world, hogql):
    hogql.fail = [504] * 3
    conn = open_reader(get_paths().database)
    out = world["tmp"] / "o.json"
    with pytest.raises(ou.OrgUsageError, match="after 3 attempts: HTTP 504"):
        fetch_org_usage(
            conn,
            out,
            windows="30",
            primary_window=30,
            filter_repos="",
            filter_email_domains="",
            host=None,
            project_id=None,
            key_file=None,
            config_dir=get_paths().config_dir,
            copy_to=None,
            backoff_s=(0.01, 0.01),
        )
    conn.close()
    assert not out.exists()


def test_a_refused_key_is_a_one_line_error_without_the_key(world, hogql, monkeypatch):
    monkeypatch.setenv("SKILL_INSIGHTS_POSTHOG_PERSONAL_API_KEY", "phx_wrong")
    out = world["tmp"] / "o.json"
    r = invoke("--output", str(out))
    assert r.exit_code == 1
    assert r.output.strip() == "Error: PostHog query failed (HTTP 403): invalid personal API key"
    assert "phx_wrong" not in r.output and not out.exists()
    assert len(hogql.requests) == 1  # a 4xx is not retried


def test_the_key_comes_from_a_private_file_only(world, hogql, monkeypatch):
    monkeypatch.delenv("SKILL_INSIGHTS_POSTHOG_PERSONAL_API_KEY")
    out = world["tmp"] / "o.json"
    r = invoke("--output", str(out))
    assert r.exit_code == 1 and "no PostHog personal API key" in r.output and len(r.output.splitlines()) == 1
    key_file = world["tmp"] / "key"
    key_file.write_text(KEY + "\n")
    key_file.chmod(0o644)
    r = invoke("--output", str(out), "--key-file", str(key_file))
    assert r.exit_code == 1 and "readable by others (chmod 600 it)" in r.output
    assert hogql.requests == []
    key_file.chmod(0o600)
    r = invoke("--output", str(out), "--key-file", str(key_file), "--windows", "30")
    assert r.exit_code == 0, r.output
    assert KEY not in r.output and out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--windows", "7,x"], "--windows: 'x' is not a number of days"),
        (["--windows", "0"], "--windows: '0' is not a number of days"),
        (["--windows", ","], "--windows: give at least one number of days"),
        (["--primary-window", "-3"], "--primary-window must be a positive number of days"),
    ],
)
def test_bad_options_are_one_line_errors_and_send_nothing(world, hogql, args, message):
    r = invoke("--output", str(world["tmp"] / "o.json"), *args)
    assert r.exit_code != 0
    assert message in r.output and len(r.output.strip().splitlines()) == 1
    assert hogql.requests == []


def test_org_skills_are_compared_with_the_ones_installed_here(world, hogql):
    for name in ("review", "idle-here"):
        d = world["home"] / ".claude" / "skills" / name
        d.mkdir(parents=True)
        (d / "SKILL.md").write_text(f"---\nname: {name}\ndescription: {name} things.\n---\nbody\n")
    scan = CliRunner().invoke(cli, ["scan", "--no-registry"])
    assert scan.exit_code == 0, scan.output
    r = invoke("--output", str(world["tmp"] / "o.json"), "--windows", "30")
    assert r.exit_code == 0, r.output
    assert "popular in the org, not installed here: code-review (4 people), release-notes (3 people)" in r.output
    assert "installed here, unused org-wide: idle-here" in r.output
    doc = json.loads((world["tmp"] / "o.json").read_text())
    here = ou.compare_with_local(doc, {"review": {"review"}, "idle-here": {"idle-here"}})
    assert [s["name"] for s in here["popular_not_installed"]] == ["code-review", "release-notes"]
    assert here["installed_unused_org_wide"] == ["idle-here"]
    # A plugin skill is used org-wide under its plugin name, and installed here under that name too.
    both = ou.compare_with_local(doc, {"code-review": {"code-review", "kit:code-review"}, "idle-here": {"idle-here"}})
    assert [s["name"] for s in both["popular_not_installed"]] == ["release-notes", "review"]  # 3 people, then 2
    assert both["installed_unused_org_wide"] == ["idle-here"]
    # The section the report shows, from the copy the fetch keeps.
    conn = open_reader(get_paths().database)
    section = ou.org_section(get_paths().data_dir / "org_usage.json", conn)
    assert section is not None and section["installed_unused_org_wide"] == ["idle-here"]
    assert section["totals"]["activations"] == 20
    (get_paths().data_dir / "org_usage.json").write_text('{"schema_version": "1.4"}')
    assert ou.org_section(get_paths().data_dir / "org_usage.json", conn) is None  # not the schema's: no section
    conn.close()


def test_the_shipped_schema_is_the_models():
    assert schema_text("org-usage") == model_schema_text()
