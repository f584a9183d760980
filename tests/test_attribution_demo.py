"""The demo data set's Sources: context-cost figures in the report, and a never-used list that holds an agent
and a command (the demo installs two of each and uses one)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from skill_insights.cli import cli


def test_demo_report_shows_context_cost_and_never_used_agent_and_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from skill_insights import demo

    env = demo.build(tmp_path / "demo")
    for name in demo.DemoEnv.REMOTE_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    for k, v in env.environ().items():
        monkeypatch.setenv(k, v)
    runner = CliRunner()
    for args in (["ingest"], ["scan", "--no-registry", *map(str, env.projects)]):
        res = runner.invoke(cli, args)
        assert res.exit_code == 0, res.output
    res = runner.invoke(cli, ["usage", "sources", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    never = {n["kind"] for n in doc["never_used"]}
    assert {"agent", "command"} <= never
    assert doc["always_loaded"]["tokens"] > 0
    used_kinds = {r["kind"] for r in doc["rows"] if r["invocations"] and r["source"] not in ("builtin", "unknown")}
    assert {"skill", "agent", "command", "mcp"} <= used_kinds

    out = tmp_path / "report.html"
    res = runner.invoke(cli, ["report", "-o", str(out)])
    assert res.exit_code == 0, res.output
    html = out.read_text()
    start = html.index('<section id="sources"')
    section = html[start : html.index("</section>", start)]
    m = re.search(r"about <strong>([0-9.,k]+)</strong> tokens per session", section)
    assert m and m.group(1) not in ("0", "")
    for n in doc["never_used"]:
        if n["kind"] in ("agent", "command"):
            assert f'<span class="skill-name">{n["name"]}</span>' in section
            assert f"unused, costs ~{n['always_loaded_tokens']} tokens per session" in section
