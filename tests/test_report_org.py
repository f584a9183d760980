"""The report's org section: shown from the copy `org-usage fetch` keeps, escaped, absent without a fetch."""

from __future__ import annotations

import re

from click.testing import CliRunner
from test_org_usage import hogql, world  # noqa: F401  # the HogQL stand-in server and an isolated home

from skill_insights.cli import cli
from skill_insights.settings import get_paths


def _report(path) -> str:
    res = CliRunner().invoke(cli, ["report", "-o", str(path)])
    assert res.exit_code == 0, res.output
    return path.read_text()


def test_org_section_shows_what_the_org_uses_and_this_machine_does_not(world, hogql):  # noqa: F811
    for name in ("review", "idle-here", "<b>x</b>"):
        d = world["home"] / ".claude" / "skills" / re.sub(r"\W", "_", name)
        d.mkdir(parents=True)
        (d / "SKILL.md").write_text(f'---\nname: "{name}"\ndescription: things.\n---\nbody\n')
    assert CliRunner().invoke(cli, ["scan", "--no-registry"]).exit_code == 0
    before = _report(world["tmp"] / "before.html")
    assert 'id="org"' not in before  # no fetch yet: no section, no empty box
    res = CliRunner().invoke(cli, ["org-usage", "fetch", "--output", str(world["tmp"] / "o.json"), "--windows", "30"])
    assert res.exit_code == 0, res.output
    html = _report(world["tmp"] / "after.html")
    org = html[html.index('<section id="org"') : html.index('<section id="sessions"')]
    assert "Popular in the org, not installed here" in org
    assert re.search(r"code-review</td><td[^>]*>[^<]*</td><td class=\"num\">4</td>", org)
    assert "idle-here" in org and "&lt;b&gt;x&lt;/b&gt;" in org and "<b>x</b>" not in org
    assert re.search(r'<div class="kpi-label">Skill activations</div><div class="kpi-value">20</div>', org)
    assert '<a href="#org">Org</a>' in html
    # A copy that does not match the schema: no section rather than a broken one.
    (get_paths().data_dir / "org_usage.json").write_text('{"schema_version": "0"}')
    assert 'id="org"' not in _report(world["tmp"] / "bad.html")
