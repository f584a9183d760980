"""Paths the hook fast path and the daemon agree on, computed with the standard library only.

The hook must not import platformdirs (Claude Code waits for it), so these few paths are defined here and
`settings.get_paths()` uses the same function for the runtime dir.
"""

from __future__ import annotations

import os
import sys

APP = "skill-insights"
SOCKET_NAME = "daemon.sock"
PID_NAME = "daemon.pid"
# AF_UNIX paths are limited to 108 bytes on Linux and 104 on macOS (including the NUL).
MAX_SOCKET_PATH = 100
# Largest hook payload the hook hands on (the daemon drops larger ones too).
MAX_PAYLOAD = 1024 * 1024
CONFIG_NAME = "config.json"
SERVICE_MARKER_NAME = "service-manager"


def home_override() -> str | None:
    return os.environ.get("SKILL_INSIGHTS_HOME") or None


def runtime_dir() -> str:
    home = home_override()
    if home:
        return os.path.join(os.path.expanduser(home), "run")
    if sys.platform == "darwin":
        return os.path.join(os.path.expanduser("~/Library/Caches/TemporaryItems"), APP)
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.path.isdir(xdg):
        return os.path.join(xdg, APP)
    import tempfile  # lazily: its imports cost the hook more than the rest of it, and it is rarely needed

    return os.path.join(tempfile.gettempdir(), f"{APP}-{os.getuid()}")


def socket_path() -> str:
    return os.path.join(runtime_dir(), SOCKET_NAME)


def pid_path() -> str:
    return os.path.join(runtime_dir(), PID_NAME)


def spool_dir() -> str:
    """Hook payloads waiting for a daemon or a detached one-file ingest."""
    return os.path.join(runtime_dir(), "spool")


def hook_log() -> str:
    return os.path.join(runtime_dir(), "hook.log")


def config_dir() -> str:
    """platformdirs' user_config_dir for the app, recomputed here because the hook cannot import platformdirs."""
    home = home_override()
    if home:
        return os.path.join(os.path.expanduser(home), "config")
    if sys.platform == "darwin":
        return os.path.join(os.path.expanduser("~/Library/Application Support"), APP)
    return os.path.join(xdg_config_home(), APP)


def xdg_config_home() -> str:
    """`$XDG_CONFIG_HOME`, or `~/.config` when it is unset or blank (as platformdirs reads it)."""
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    return xdg if xdg.strip() else os.path.expanduser("~/.config")


def config_file() -> str:
    """The user's small JSON config (e.g. `session_start_context`); read by the hook only if it exists."""
    return os.path.join(config_dir(), CONFIG_NAME)


def service_marker() -> str:
    """Written by `install` when a service manager (systemd, launchd) really owns the daemon.

    It lives in the config dir, not the runtime dir, because it must survive a reboot.
    """
    return os.path.join(config_dir(), SERVICE_MARKER_NAME)
