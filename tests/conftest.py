"""Every test runs in a home of its own: HOME, the store (SKILL_INSIGHTS_HOME) and Claude Code's folder
(CLAUDE_CONFIG_DIR) point into a temporary folder of the test's own (not tmp_path, which stays free for the
test), the XDG folders are unset, and nothing that would send data or change behaviour leaks in from the
machine (telemetry, GitHub, LLM keys). Tests take those paths from the `isolated_home` fixture rather than
setting the variables again; one that needs another layout sets its own on top and says why. None can read
or write the real ~/.claude or the user's store."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # the shared helpers (transcript_corpus, *_support)

_LEAKY = (
    "DO_NOT_TRACK",
    "SKILL_INSIGHTS_TELEMETRY",
    "SKILL_INSIGHTS_POSTHOG_KEY",
    "SKILL_INSIGHTS_POSTHOG_HOST",
    "GITHUB_TOKEN",
    "GITHUB_API_URL",
    "ANTHROPIC_API_KEY",
    "SKILLS_API_URL",
    "SKILL_INSIGHTS_DAEMON_POLLING",
)


@dataclass(frozen=True)
class IsolatedHome:
    """Where a test's environment points; everything lives under root."""

    root: Path
    home: Path  # HOME (exists)
    store: Path  # SKILL_INSIGHTS_HOME (made by the first command that needs it)
    claude: Path  # CLAUDE_CONFIG_DIR, Claude Code's folder inside HOME (not made)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> IsolatedHome:
    root = tmp_path_factory.mktemp("home")
    paths = IsolatedHome(root=root, home=root / "home", store=root / "si", claude=root / "home" / ".claude")
    monkeypatch.setenv("HOME", str(paths.home))
    monkeypatch.setenv("SKILL_INSIGHTS_HOME", str(paths.store))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(paths.claude))
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR"):
        monkeypatch.delenv(name, raising=False)
    for name in _LEAKY:
        monkeypatch.delenv(name, raising=False)
    paths.home.mkdir()
    return paths


@pytest.fixture
def offline_tessl_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Tessl registry at a closed port on 127.0.0.1, so a scan that asks it gets no answer and sends nothing."""
    monkeypatch.setenv("SKILL_INSIGHTS_TESSL_REGISTRY_URL", "http://127.0.0.1:9")


@pytest.fixture
def isolated_env(isolated_home: IsolatedHome) -> dict[str, str]:
    """The environment for a child process: a copy of this test's isolated os.environ."""
    return dict(os.environ)
