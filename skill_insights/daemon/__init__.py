"""The capture daemon: watchdog over the transcript roots, hook nudges over a unix socket, a spool, a scheduler.

`service.Daemon` runs the loop (`skill-insights daemon run`) over its parts: `server` (the unix socket),
`watcher` (watchdog over the projects folders and the spool), `ingest_queue` (debounce, reconcile backlog,
retries while the store is locked) and `spool` (the spool drain, also run by `ingest-spool`). `control` holds
the single-instance lock and the start/stop/status side; `scheduler.Scheduler` is where periodic jobs register.
"""

from __future__ import annotations

import math
import os


def env_float(name: str, default: float) -> float:
    """A duration from the environment (the daemon's timings), or `default` when it is unset or not a finite
    number above 0 — the rule the CLI's options keep: a `nan` interval made every loop pass due."""
    try:
        value = float(os.environ[name])
    except (KeyError, ValueError):
        return default
    return value if math.isfinite(value) and value > 0 else default
