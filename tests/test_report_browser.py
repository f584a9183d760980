"""The demo report in a real headless Chromium (Debian's `chromium`, driven by Playwright; no browser download).

Needs: `apt-get install -y chromium` (gives /usr/bin/chromium) and the `playwright` Python package.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("SKILL_INSIGHTS_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SECTIONS = ("overview", "issues", "changes", "usage", "skills", "duplicates", "manifests", "sessions")
HOSTILE_NAME = "<script>alert('name')</script><img src=x onerror=alert(1)>"

if not Path(CHROMIUM).is_file():
    pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install -y chromium", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    from test_report import build_demo_report

    mp = pytest.MonkeyPatch()
    try:
        yield build_demo_report(tmp_path_factory.mktemp("demo"), mp, hostile=True)
    finally:
        mp.undo()


@pytest.fixture(scope="module")
def old_report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A store whose whole history ended two months ago."""
    from test_report import build_demo_report

    mp = pytest.MonkeyPatch()
    try:
        yield build_demo_report(tmp_path_factory.mktemp("old"), mp, built_at=datetime.now(UTC) - timedelta(days=62))
    finally:
        mp.undo()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class Page:
    """A page with every console message, page error and dialog recorded."""

    def __init__(self, browser: object, url: str, tmp: Path, width: int = 1280) -> None:
        self.console: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.requests: list[str] = []
        self.ctx = browser.new_context(viewport={"width": width, "height": 900})
        self.page = self.ctx.new_page()
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", self._dialog)
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(url)
        self.page.wait_for_load_state("load")

    def _dialog(self, d: object) -> None:
        self.dialogs.append(d.message)
        d.dismiss()

    def rows(self, body: str) -> list[str]:
        return self.page.locator(f"#{body} tr.row").all_inner_texts()


@pytest.fixture
def page(browser: object, report: Path, tmp_path: Path) -> Iterator[Page]:
    p = Page(browser, report.as_uri(), tmp_path)
    yield p
    p.ctx.close()


def test_loads_clean_with_every_section(page: Page, report: Path) -> None:
    pg = page.page
    for s in SECTIONS:
        assert pg.locator(f"section#{s}").is_visible(), s
        assert pg.locator(f"section#{s} h1, section#{s} h2").count() == 1
    assert pg.locator(".usage-panel:visible svg.chart rect").count() >= 14
    assert len(page.rows("skills-body")) >= 12
    assert len(page.rows("sessions-body")) == 25  # the first page
    pg.wait_for_timeout(200)
    assert page.errors == []
    assert [m for m in page.console if m.startswith(("error", "warning"))] == []
    # Nothing but the file itself was requested: no network, no CDN.
    assert all(u.startswith("file://") for u in page.requests), page.requests


def test_filter_and_sort_skills(page: Page) -> None:
    pg = page.page
    everything = page.rows("skills-body")
    pg.fill("#f-text", "release-notes")
    names = pg.locator("#skills-body tr.row .skill-name").all_inner_texts()
    assert names == ["release-notes"]
    assert pg.locator("#skills-count").inner_text() == f"1 of {len(everything)}"
    pg.fill("#f-text", "")
    pg.select_option("#f-stale", "never")
    never = pg.locator("#skills-body tr.row .skill-name").all_inner_texts()
    assert "docker-dev" in never and "commit-message" not in never
    pg.select_option("#f-stale", "")
    pg.select_option("#f-dup", "yes")
    assert sorted(pg.locator("#skills-body tr.row .skill-name").all_inner_texts()) == ["changelog", "release-notes"]
    pg.select_option("#f-dup", "")
    pg.select_option("#f-scope", "project")
    project = pg.locator("#skills-body tr.row .skill-name").all_inner_texts()
    assert "react-components" in project and "commit-message" not in project
    pg.select_option("#f-scope", "")

    head = pg.locator('#skills-table th[data-key="name"]')
    head.click()
    asc = pg.locator("#skills-body tr.row .skill-name").all_inner_texts()
    assert head.get_attribute("aria-sort") == "ascending"
    assert asc == sorted(asc, key=str.lower)
    head.click()
    desc = pg.locator("#skills-body tr.row .skill-name").all_inner_texts()
    assert head.get_attribute("aria-sort") == "descending"
    assert desc == list(reversed(asc))
    pg.click('#skills-table th[data-key="score"]')
    scores = [int(t) for t in pg.locator("#skills-body tr.row .pill").all_inner_texts()]
    assert scores == sorted(scores) and scores[0] < scores[-1]


def test_skill_detail_and_session_pages(page: Page) -> None:
    pg = page.page
    pg.fill("#f-text", "api-docs")
    pg.click("#skills-body tr.row")
    detail = pg.locator("#skills-body tr.detail")
    assert detail.is_visible()
    text = detail.inner_text()
    assert text.count("references/style-guide.md") == 1 and "fix" in text.lower()
    first = page.rows("sessions-body")
    pg.click("#sessions-pager button:has-text('Next')")
    second = page.rows("sessions-body")
    assert second and second[0] != first[0]
    pg.click('#sessions-table th[data-key="tokens"]')
    pg.fill("#s-text", "/code/api")
    api = page.rows("sessions-body")
    assert api and all("/code/api" in r for r in api)
    # The project column shows a short name, the full path on hover.
    cell = pg.locator("#sessions-body tr.row .project").first
    assert cell.inner_text() == "~/code/api" and cell.get_attribute("title").endswith("/home/code/api")


def _visible_period(pg: object) -> str:
    """The period key the visible usage panel answers to (a panel equal to another answers to both)."""
    keys = pg.locator(".usage-panel:visible").get_attribute("data-period").split()
    pressed = pg.locator('#usage .period-btn[aria-pressed="true"]').get_attribute("data-period")
    return pressed if pressed in keys else keys[0]


def test_period_control_changes_every_usage_panel(page: Page) -> None:
    pg = page.page
    assert _visible_period(pg) == "30d"
    before = {
        "usage": pg.locator(".usage-panel:visible").inner_text(),
        "kpis": pg.locator("#overview .period-panel:visible").inner_text(),
    }
    pg.locator("#usage .period-btn", has_text="7 d").click()
    assert _visible_period(pg) == "7d"
    assert pg.locator("#overview .period-panel:visible").get_attribute("data-period") == "7d"
    assert pg.locator('#overview .period-btn[data-period="7d"]').get_attribute("aria-pressed") == "true"
    panel = pg.locator(".usage-panel:visible")
    after = {"usage": panel.inner_text(), "kpis": pg.locator("#overview .period-panel:visible").inner_text()}
    assert after["kpis"] != before["kpis"] and "7 d" in after["kpis"]
    # Every panel of the usage section is the 7-day one: the chart has 7 bars, each table is its own copy.
    assert panel.locator("svg.chart rect").count() == 7
    for h in ("By model", "By project", "Top tools", "Skills by activations", "MCP servers", "Subagents"):
        assert panel.locator("h3", has_text=h).is_visible(), h
    assert pg.locator(".usage-panel:visible").count() == 1
    pg.locator("#overview .period-btn", has_text="All time").click()
    assert _visible_period(pg) == "all"
    assert pg.locator(".usage-panel:visible").inner_text() != after["usage"]
    assert page.errors == []


@pytest.mark.parametrize("width", [1400, 390])
def test_old_history_shows_all_time_and_no_ingest_advice(
    browser: object, old_report: Path, tmp_path: Path, width: int
) -> None:
    p = Page(browser, old_report.as_uri(), tmp_path, width=width)
    pg = p.page
    try:
        text = pg.locator("body").inner_text()
        assert "run skill-insights ingest" not in text and "No usage captured" not in text
        # The period is empty, the history is not: all-time totals show, the last session is named.
        kpis = pg.locator("#overview .period-panel:visible").inner_text()
        assert "all time $" in kpis and "all time 0\n" not in kpis and "all time $0\n" not in kpis
        empty = pg.locator(".usage-panel:visible .period-empty")
        assert "The last captured session was on" in empty.inner_text()
        assert pg.evaluate("document.documentElement.scrollWidth") <= width
        pg.locator(".usage-panel:visible .period-btn.link").click()
        assert _visible_period(pg) == "all"
        assert pg.locator(".usage-panel:visible svg.chart rect").count() > 0
        assert pg.evaluate("document.documentElement.scrollWidth") <= width
        shot = Path(os.environ.get("SKILL_INSIGHTS_SCREENSHOT_DIR", tmp_path)) / f"old-history-{width}.png"
        pg.screenshot(path=str(shot), full_page=True)
        pg.wait_for_timeout(100)
        assert p.errors == [] and [m for m in p.console if m.startswith(("error", "warning"))] == []
    finally:
        p.ctx.close()


@pytest.mark.parametrize("width", [1400, 390])
def test_no_sideways_scroll(browser: object, report: Path, tmp_path: Path, width: int) -> None:
    p = Page(browser, report.as_uri(), tmp_path, width=width)
    try:
        assert p.page.evaluate("document.documentElement.scrollWidth") <= width
        # A skill name keeps whole words on a phone (it wrapped a letter per line).
        name = p.page.locator("#skills-body tr.row .skill-name").first
        assert name.bounding_box()["width"] > 60
    finally:
        p.ctx.close()


def test_hostile_skill_executes_nothing(page: Page) -> None:
    pg = page.page
    # The hostile strings are on the page as text, in the server-rendered issues and the script-built table.
    assert pg.locator("#issues", has_text=HOSTILE_NAME).count() >= 1
    pg.fill("#f-text", "onerror")
    row = pg.locator("#skills-body tr.row")
    assert row.count() == 1
    assert row.locator(".skill-name").inner_text() == HOSTILE_NAME
    row.click()
    row.hover()
    assert "<svg onload=console.log('pwned-desc')>" in pg.locator("#skills-body tr.detail").inner_text()
    # No element was made from the hostile markup.
    for sel in ("img", "iframe", "svg[onload]", "[onerror]", "[onmouseover]", "a[href^='javascript']"):
        assert pg.locator(sel).count() == 0, sel
    assert pg.locator("script").count() == 2
    pg.wait_for_timeout(300)
    assert page.dialogs == []
    assert not [m for m in page.console if "pwned" in m or "alert" in m]
    assert page.errors == []


def test_dark_mode_renders(browser: object, report: Path) -> None:
    ctx = browser.new_context(color_scheme="dark")
    pg = ctx.new_page()
    pg.goto(report.as_uri())
    bg = pg.evaluate("getComputedStyle(document.body).backgroundColor")
    ctx.close()
    assert bg != "rgb(247, 247, 245)"  # the light background


def test_screenshot_of_the_demo(page: Page, tmp_path: Path) -> None:
    out = Path(os.environ.get("SKILL_INSIGHTS_SCREENSHOT", tmp_path / "demo-report.png"))
    page.page.screenshot(path=str(out), full_page=True)
    assert out.stat().st_size > 10_000  # looked at by a person; the test only proves it was made
