"""Tessl registry signals over real HTTP (a server on 127.0.0.1 in a thread), its cache, and offline."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_analyzers_support import Request, Server, serve

from skill_insights.collectors.skills import scan
from skill_insights.collectors.skills.tessl import TesslRegistry, is_behind, registry_base_url


def _answer(req: Request) -> tuple[int, Any]:
    if req.path == "/v1/tiles/ws/tile":
        return 200, {"data": {"name": "ws/tile", "latestVersion": "1.2.0", "updatedAt": "2026-10-01T00:00:00Z"}}
    return 404, {"error": "not found"}


@pytest.fixture
def server() -> Iterator[Server]:
    with serve(_answer) as srv:
        yield srv


def _project(tmp: Path) -> Path:
    proj = tmp / "proj"
    tile = proj / ".tessl" / "tiles" / "ws" / "tile"
    (tile / "skills" / "t").mkdir(parents=True)
    (tile / "tile.json").write_text(
        json.dumps({"name": "ws/tile", "version": "1.0.0", "skills": {"t": {"path": "skills/t/SKILL.md"}}})
    )
    (tile / "skills" / "t" / "SKILL.md").write_text("---\nname: t\ndescription: T.\n---\nbody\n")
    (proj / "tessl.json").write_text(
        json.dumps({"dependencies": {"ws/tile": {"version": "1.0.0"}, "ws/gone": {"version": "2.0.0"}}})
    )
    return proj


def test_signals_from_a_live_registry_are_cached(tmp_path, server):
    proj = _project(tmp_path)
    reg = TesslRegistry(server.url, tmp_path / "cache")
    doc = scan([proj], agent_dirs=False, registry=reg)
    reg.close()
    tessl = next(m for m in doc["manifests"] if m["kind"] == "tessl.json")
    dep = tessl["dependencies"]["ws/tile"]["registry"]
    assert dep["status"] == "ok" and dep["latest_version"] == "1.2.0" and dep["behind"] is True
    assert dep["updated_at"] == "2026-10-01T00:00:00Z"
    assert tessl["dependencies"]["ws/gone"]["registry"]["status"] == "not_found"
    tile = next(m for m in doc["manifests"] if m["kind"] == "tile.json")
    assert tile["registry"]["behind"] is True
    hits = [r.path for r in server.requests]
    assert sorted(hits) == ["/v1/tiles/ws/gone", "/v1/tiles/ws/tile"]  # once per tile, not per manifest

    # A second client reads the disk cache: no request reaches the server.
    reg2 = TesslRegistry(server.url, tmp_path / "cache")
    assert reg2.signals("ws/tile")["latest_version"] == "1.2.0"
    assert len(server.requests) == 2


def test_offline_after_the_first_failure(tmp_path):
    import socket

    # A registry that accepts and hangs up at once: counting connections shows the client gave up after one.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.1)
    connections: list[int] = []
    stop = threading.Event()

    def drop() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            connections.append(1)
            conn.close()

    t = threading.Thread(target=drop, daemon=True)
    t.start()
    proj = _project(tmp_path)  # two tiles to look up: ws/tile and ws/gone
    reg = TesslRegistry(f"http://127.0.0.1:{listener.getsockname()[1]}", tmp_path / "cache", timeout=1.0)
    try:
        doc = scan([proj], agent_dirs=False, registry=reg)
    finally:
        reg.close()
        stop.set()
        t.join()
        listener.close()
    tessl = next(m for m in doc["manifests"] if m["kind"] == "tessl.json")
    assert {d["registry"]["status"] for d in tessl["dependencies"].values()} == {"unknown"}
    assert tessl["dependencies"]["ws/tile"]["registry"]["behind"] is None
    assert reg.offline is True
    assert len(connections) == 1  # the second tile never tried the network


def test_base_url_env_then_config(tmp_path, monkeypatch):
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"tessl_registry_url": "http://127.0.0.1:1/reg/"}))
    monkeypatch.delenv("SKILL_INSIGHTS_TESSL_REGISTRY_URL", raising=False)
    assert registry_base_url(cfg) == "http://127.0.0.1:1/reg"
    monkeypatch.setenv("SKILL_INSIGHTS_TESSL_REGISTRY_URL", "http://127.0.0.1:2")
    assert registry_base_url(cfg) == "http://127.0.0.1:2"


def test_version_comparison():
    assert is_behind("1.0.0", "1.2.0") is True
    assert is_behind("1.10.0", "1.9.0") is False
    assert is_behind("1.0.0-beta", "1.0.0") is True
    assert is_behind("1.0.0", None) is None and is_behind("latest", "1.0.0") is None


def test_no_registry_configured_means_no_connection(tmp_path, monkeypatch):
    # Regression: with nothing configured, scan fell back to the public registry. A listening "proxy" catches any
    # attempt: httpx routes every request through HTTP(S)_PROXY.
    import socket

    from click.testing import CliRunner

    from skill_insights.cli import cli

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("SKILL_INSIGHTS_HOME", str(tmp_path / "si"))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(home / ".claude"))
    monkeypatch.delenv("SKILL_INSIGHTS_TESSL_REGISTRY_URL", raising=False)
    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(var, raising=False)
    proxy = socket.socket()
    proxy.bind(("127.0.0.1", 0))
    proxy.listen(8)
    proxy.setblocking(False)
    url = f"http://127.0.0.1:{proxy.getsockname()[1]}"
    for var in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy", "all_proxy"):
        monkeypatch.setenv(var, url)
    proj = tmp_path / "proj"
    tile = proj / ".tessl" / "tiles" / "acme" / "mytile"
    (tile / "skills" / "t").mkdir(parents=True)
    (tile / "tile.json").write_text(
        json.dumps({"name": "acme/mytile", "version": "1.0.0", "skills": {"t": {"path": "skills/t/SKILL.md"}}})
    )
    (tile / "skills" / "t" / "SKILL.md").write_text("---\nname: t\ndescription: T.\n---\nbody\n")
    try:
        r = CliRunner().invoke(cli, ["scan", str(proj), "--json", "--no-agent-dirs"])
        assert r.exit_code == 0, r.output
        with pytest.raises(BlockingIOError):
            proxy.accept()[0].close()  # a connection waiting here would be a registry request
    finally:
        proxy.close()
    [m] = [m for m in json.loads(r.output)["manifests"] if m["kind"] == "tile.json"]
    assert m["name"] == "acme/mytile" and m["registry"]["status"] == "unknown"
