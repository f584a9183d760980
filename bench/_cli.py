"""The console script the CLI benchmarks time: the one beside the running interpreter first.

A version manager's shim on PATH (pyenv) adds ~80-100 ms of its own to every run, so the script installed
with this interpreter is preferred; PATH is the fallback.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


def console_script() -> str | None:
    """Path of the `skill-insights` console script beside this interpreter, else on PATH; None when neither."""
    beside = Path(sys.executable).parent / "skill-insights"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("skill-insights")
