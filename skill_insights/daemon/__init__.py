"""The capture daemon: watchdog over the transcript roots, hook nudges over a unix socket, a spool, a scheduler.

`service.Daemon` runs the loop (`skill-insights daemon run`); `control` holds the single-instance lock and
the start/stop/status side; `scheduler.Scheduler` is where periodic jobs register.
"""

from __future__ import annotations

import os


def env_float(name: str, default: float) -> float:
    """A number from the environment (the daemon's timings), or `default` when it is unset or not a number."""
    try:
        return float(os.environ[name])
    except (KeyError, ValueError):
        return default
