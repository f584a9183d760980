"""The daemon's autostart: a systemd user unit on Linux, a LaunchAgent on macOS.

Pure functions (`systemd_unit`, `launchd_plist`) write the definitions; `install_service` and
`uninstall_service` write or remove only a file we wrote, and ask the service manager to start or stop it.
"""

from __future__ import annotations

import os
import plistlib
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from skill_insights.hooks import locations
from skill_insights.hooks.fastpath import DAEMON_ARGS
from skill_insights.outputs import write_atomic

UNIT_NAME = "skill-insights.service"
LAUNCHD_LABEL = "dev.skill-insights.daemon"
SERVICE_HEADER = "# Written by `skill-insights install`; removed by `skill-insights uninstall`."
# Passed on to the service so the daemon reads the same store and transcripts as the hooks.
SERVICE_ENV = ("SKILL_INSIGHTS_HOME", "CLAUDE_CONFIG_DIR")


# -- pure: service definitions ----------------------------------------------------------------------------


def _service_env(environ: dict[str, str]) -> dict[str, str]:
    return {k: environ[k] for k in SERVICE_ENV if environ.get(k)}


def _systemd_quote(arg: str) -> str:
    if arg and all(c.isalnum() or c in "/._-+=:@" for c in arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def systemd_unit(python: str, environ: dict[str, str] | None = None) -> str:
    env = _service_env(environ if environ is not None else dict(os.environ))
    exec_start = " ".join(_systemd_quote(a) for a in (python, *DAEMON_ARGS))
    lines = [
        SERVICE_HEADER,
        "[Unit]",
        "Description=skill-insights capture daemon (Claude Code usage into a local store)",
        "",
        "[Service]",
        "Type=simple",
        f"ExecStart={exec_start}",
        *(f"Environment={_systemd_quote(f'{k}={v}')}" for k, v in env.items()),
        "Restart=on-failure",
        "RestartSec=5",
        "Nice=10",
        "",
        "[Install]",
        "WantedBy=default.target",
        "",
    ]
    return "\n".join(lines)


def launchd_plist(python: str, log_dir: str, environ: dict[str, str] | None = None) -> bytes:
    env = _service_env(environ if environ is not None else dict(os.environ))
    doc: dict = {
        "Label": LAUNCHD_LABEL,
        "ProgramArguments": [python, *DAEMON_ARGS],
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},
        "ProcessType": "Background",
        "StandardOutPath": os.path.join(log_dir, "daemon.launchd.log"),
        "StandardErrorPath": os.path.join(log_dir, "daemon.launchd.log"),
    }
    if env:
        doc["EnvironmentVariables"] = env
    return plistlib.dumps(doc)


# -- I/O: service -----------------------------------------------------------------------------------------


@dataclass
class ServiceResult:
    kind: str  # systemd | launchd | none
    path: Path | None = None
    messages: list[str] = field(default_factory=list)
    managed: bool = False


def systemd_unit_path() -> Path:
    return Path(locations.xdg_config_home()) / "systemd" / "user" / UNIT_NAME


def launchd_plist_path() -> Path:
    return Path.home() / "Library" / "LaunchAgents" / f"{LAUNCHD_LABEL}.plist"


def _run(argv: list[str]) -> tuple[bool, str]:
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=15, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, str(e)
    out = (p.stderr or p.stdout).strip().splitlines()
    return p.returncode == 0, out[-1] if out else f"exit {p.returncode}"


def _ours_or_absent(path: Path) -> bool:
    """Only a service file we wrote (or none) may be replaced or removed."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return True
    except OSError:
        return False
    mark = f"<string>{LAUNCHD_LABEL}</string>" if path.suffix == ".plist" else SERVICE_HEADER
    return mark in text


def _write_marker(kind: str) -> None:
    write_atomic(Path(locations.service_marker()), f"{kind}\n".encode(), 0o644, durable=True)


def _record_start(res: ServiceResult, ok: bool, msg: str, started: str, command: str) -> None:
    """After asking the service manager to start the daemon: mark it as the daemon's owner, or say why not."""
    if ok:
        _write_marker(res.kind)
        res.managed = True
        res.messages.append(started)
    else:
        # No user manager here (containers, WSL, SSH without lingering): the hook starts the daemon.
        res.messages.append(f"{command} failed ({msg}); the SessionStart hook will start the daemon")


def _install_systemd(res: ServiceResult, path: Path) -> None:
    text = systemd_unit(sys.executable)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        write_atomic(path, text.encode(), 0o644, durable=True)
        res.messages.append(f"wrote {path}")
    else:
        res.messages.append(f"{path} already up to date")
    systemctl = shutil.which("systemctl")
    if not systemctl:
        res.messages.append("systemctl not found: the SessionStart hook will start the daemon instead")
        return
    ok, msg = _run([systemctl, "--user", "daemon-reload"])
    if ok:
        ok, msg = _run([systemctl, "--user", "enable", "--now", UNIT_NAME])
    _record_start(res, ok, msg, "systemd user service enabled and started", "systemctl --user")


def _install_launchd(res: ServiceResult, path: Path) -> None:
    from skill_insights.settings import get_paths

    log_dir = get_paths().log_dir
    log_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(path, launchd_plist(sys.executable, str(log_dir)), 0o644, durable=True)
    res.messages.append(f"wrote {path}")
    launchctl = shutil.which("launchctl")
    if launchctl and sys.platform == "darwin":
        _run([launchctl, "bootout", f"gui/{os.getuid()}/{LAUNCHD_LABEL}"])  # reload if it was loaded
        ok, msg = _run([launchctl, "bootstrap", f"gui/{os.getuid()}", str(path)])
        _record_start(res, ok, msg, "LaunchAgent loaded", "launchctl bootstrap")


def _service_target(platform: str) -> tuple[str, Path] | None:
    """The service manager of `platform` and the file `install` writes for it; None where there is none."""
    if platform.startswith("linux"):
        return "systemd", systemd_unit_path()
    if platform == "darwin":
        return "launchd", launchd_plist_path()
    return None


def install_service(dry_run: bool = False, platform: str = sys.platform) -> ServiceResult:
    target = _service_target(platform)
    if target is None:
        return ServiceResult("none", messages=[f"no service manager support on {platform}; the hook starts the daemon"])
    kind, path = target
    write = _install_systemd if kind == "systemd" else _install_launchd
    res = ServiceResult(kind, path)
    if not _ours_or_absent(path):
        res.messages.append(f"{path} exists and was not written by us; left alone")
    elif dry_run:
        res.messages.append(f"would write {path}")
    else:
        write(res, path)
    return res


def uninstall_service(dry_run: bool = False, platform: str = sys.platform) -> ServiceResult:
    marker = Path(locations.service_marker())
    target = _service_target(platform)
    if target is None:
        return ServiceResult("none")
    kind, path = target
    res = ServiceResult(kind, path)
    if not path.exists():
        if marker.exists() and not dry_run:
            marker.unlink(missing_ok=True)
        return res
    if not _ours_or_absent(path):
        res.messages.append(f"{path} was not written by us; left alone")
        return res
    if dry_run:
        res.messages.append(f"would remove {path}")
        return res
    if kind == "systemd" and (systemctl := shutil.which("systemctl")):
        _run([systemctl, "--user", "disable", "--now", UNIT_NAME])
    if kind == "launchd" and sys.platform == "darwin" and (launchctl := shutil.which("launchctl")):
        _run([launchctl, "bootout", f"gui/{os.getuid()}/{LAUNCHD_LABEL}"])
    path.unlink(missing_ok=True)
    if kind == "systemd" and (systemctl := shutil.which("systemctl")):
        _run([systemctl, "--user", "daemon-reload"])
    marker.unlink(missing_ok=True)
    res.messages.append(f"removed {path}")
    return res
