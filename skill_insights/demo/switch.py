"""`run --demo`: this process pointed at a freshly built demo, so every path it resolves is inside the demo."""

from __future__ import annotations

import os
from pathlib import Path

from skill_insights.demo import DemoEnv, build, remove


def use_demo(root: Path) -> DemoEnv:
    """Rebuild the demo under `root` (dated today) and point this process's environment at it, without the
    settings that would reach a real service. Child processes inherit it; the caller's shell does not."""
    remove(root)
    env = build(root)
    for name in DemoEnv.REMOTE_SETTINGS:
        os.environ.pop(name, None)
    os.environ.update(env.environ())
    return env
