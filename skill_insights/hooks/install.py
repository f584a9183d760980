"""Install and uninstall the Claude Code hooks and the statusLine in settings.json (the daemon's autostart is in
`autostart`).

Pure functions (`merge_hooks`, `remove_hooks`, `merge_statusline`) decide; thin I/O functions (`install`,
`uninstall`) read, back up and write. Our hook entries are recognised by the entry script's
path in their command, so a moved interpreter or package is updated in place rather than added twice, and
uninstall removes exactly our entries and the containers that only existed for them.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import os
import py_compile
import shlex
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from skill_insights.hooks import locations
from skill_insights.hooks.autostart import LAUNCHD_LABEL as LAUNCHD_LABEL
from skill_insights.hooks.autostart import UNIT_NAME as UNIT_NAME
from skill_insights.hooks.autostart import ServiceResult, install_service, uninstall_service
from skill_insights.hooks.autostart import launchd_plist as launchd_plist
from skill_insights.hooks.autostart import systemd_unit as systemd_unit
from skill_insights.outputs import NotRegularFile, check_output_path, write_atomic

HOOKS_DIR = Path(__file__).resolve().parent
ENTRY = HOOKS_DIR / "entry.py"
# Claude Code event name → our hook's argument.
EVENTS = {"SessionStart": "session-start", "SessionEnd": "session-end"}
HOOK_TIMEOUT_SECONDS = 10
SIGNATURE = "skill_insights/hooks/entry.py"


class SettingsError(Exception):
    """The settings file cannot be changed safely; nothing was written."""


# -- pure: hooks in a settings document -------------------------------------------------------------------


def hook_command(
    event_arg: str, python: str | None = None, entry: Path | str | None = None, home: str | None = None
) -> str:
    """The command Claude Code runs: the interpreter on the entry script directly.

    `-S` skips site (its .pth files cost more than the hook itself, and the entry needs nothing from
    site-packages); `-E` makes the hook independent of PYTHON* variables in the user's shell. pip's
    console-script wrapper is avoided because it imports `re`.
    """
    py = python or sys.executable
    return f"{_home_prefix(home)}{shlex.quote(py)} -S -E {shlex.quote(str(entry or ENTRY))} {event_arg}"


def _home_prefix(home: str | None) -> str:
    """`SKILL_INSIGHTS_HOME=… ` for a command Claude Code runs through a shell, so the hook captures into the
    store the CLI that installed it reads (Claude Code does not have the installer's environment)."""
    if not home:
        return ""
    return f"SKILL_INSIGHTS_HOME={shlex.quote(os.path.abspath(os.path.expanduser(home)))} "


def is_ours(hook: object) -> bool:
    if not isinstance(hook, dict) or not isinstance(hook.get("command"), str):
        return False
    return SIGNATURE in hook["command"].replace(os.sep, "/").replace("\\", "/")


def _check_shape(settings: object) -> dict:
    """Refuse shapes we would have to guess about, instead of rewriting a user's settings."""
    if not isinstance(settings, dict):
        raise SettingsError("the settings file is not a JSON object")
    hooks = settings.get("hooks", {})
    if not isinstance(hooks, dict):
        raise SettingsError('"hooks" in the settings file is not an object')
    for event in EVENTS:
        groups = hooks.get(event, [])
        if not isinstance(groups, list):
            raise SettingsError(f'"hooks.{event}" in the settings file is not a list')
        for g in groups:
            if not isinstance(g, dict) or not isinstance(g.get("hooks", []), list):
                raise SettingsError(f'an entry of "hooks.{event}" is not {{"hooks": [...]}}')
    return settings


def merge_hooks(settings: dict, commands: dict[str, str], timeout: int = HOOK_TIMEOUT_SECONDS) -> dict:
    """A copy of `settings` with exactly one hook of ours per event; everything else untouched."""
    doc = copy.deepcopy(_check_shape(settings))
    for event, command in commands.items():
        wanted = {"type": "command", "command": command, "timeout": timeout}
        hooks = doc.setdefault("hooks", {})
        groups = hooks.setdefault(event, [])
        placed = False
        new_groups = []
        for g in groups:
            inner = g.get("hooks", [])
            if not any(is_ours(h) for h in inner):
                new_groups.append(g)
                continue
            kept = []
            for h in inner:
                if not is_ours(h):
                    kept.append(h)
                elif not placed:  # update the first of ours in place (keeps its position)
                    kept.append(h if h == wanted else wanted)
                    placed = True
            if kept:  # a group emptied only by dropping our duplicates goes too
                g["hooks"] = kept
                new_groups.append(g)
        if not placed:
            new_groups.append({"hooks": [wanted]})
        hooks[event] = new_groups
    return doc


def remove_hooks(settings: dict) -> dict:
    """A copy of `settings` without our hooks, and without groups, event lists or a `hooks` object that
    only became empty because ours were removed."""
    doc = copy.deepcopy(_check_shape(settings))
    hooks = doc.get("hooks")
    if not isinstance(hooks, dict):
        return doc
    for event in EVENTS:
        groups = hooks.get(event)
        if not groups:
            continue
        touched = False
        new_groups = []
        for g in groups:
            inner = g.get("hooks", [])
            kept = [h for h in inner if not is_ours(h)]
            if len(kept) == len(inner):
                new_groups.append(g)
                continue
            touched = True
            if kept:
                g["hooks"] = kept
                new_groups.append(g)
        if not touched:
            continue
        if new_groups:
            hooks[event] = new_groups
        else:
            del hooks[event]
            if not hooks:
                del doc["hooks"]
    return doc


# -- pure: the statusLine ----------------------------------------------------------------------------------

STATUSLINE_ENTRY = HOOKS_DIR / "statusline_entry.py"
STATUSLINE_SIGNATURE = "skill_insights/hooks/statusline_entry.py"
# The statusLine that `install --statusline --force` replaced, kept for `uninstall` to put back.
REPLACED_STATUSLINE_NAME = "replaced-statusline.json"


def statusline_command(python: str | None = None, entry: Path | str | None = None) -> str:
    """The statusLine command: the interpreter on the entry script, as for the hooks."""
    py = python or sys.executable
    return f"{shlex.quote(py)} -S -E {shlex.quote(str(entry or STATUSLINE_ENTRY))}"


def statusline_is_ours(value: object) -> bool:
    if not isinstance(value, dict) or not isinstance(value.get("command"), str):
        return False
    return STATUSLINE_SIGNATURE in value["command"].replace(os.sep, "/").replace("\\", "/")


def merge_statusline(settings: dict, command: str, force: bool) -> tuple[dict, object]:
    """(a copy of `settings` with our statusLine, the statusLine it replaces or None). Another tool's statusLine
    is replaced only with `force`; ours is updated in place (keeping the options a user added to it)."""
    doc = copy.deepcopy(_check_shape(settings))
    current = doc.get("statusLine")
    if current is not None and not statusline_is_ours(current):
        if not force:
            shown = current.get("command") if isinstance(current, dict) else current
            raise SettingsError(f"a statusLine is already set ({shown!r}); --force replaces it (uninstall restores it)")
        doc["statusLine"] = {"type": "command", "command": command}
        return doc, current
    if isinstance(current, dict) and statusline_is_ours(current):
        doc["statusLine"] = {**current, "type": "command", "command": command}
    else:
        doc["statusLine"] = {"type": "command", "command": command}
    return doc, None


def remove_statusline(settings: dict, replaced: object = None) -> dict:
    """A copy of `settings` without our statusLine: the one it replaced is put back, if any."""
    doc = copy.deepcopy(_check_shape(settings))
    if statusline_is_ours(doc.get("statusLine")):
        if replaced is not None:
            doc["statusLine"] = replaced
        else:
            del doc["statusLine"]
    return doc


# -- I/O: settings ----------------------------------------------------------------------------------------


def default_settings_path() -> Path:
    from skill_insights.settings import claude_config_dir

    return claude_config_dir() / "settings.json"


def load_settings(path: Path) -> tuple[dict, bool]:
    """(document, existed). Raises SettingsError for anything that is not a JSON object."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}, False
    except (OSError, UnicodeDecodeError) as e:
        raise SettingsError(f"cannot read {path}: {e}") from None
    if not text.strip():
        return {}, True
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise SettingsError(f"{path} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    _check_shape(doc)
    return doc, True


def _backup(path: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    backup = path.with_name(f"{path.name}.bak-{stamp}")
    n = 1
    while backup.exists():
        backup = path.with_name(f"{path.name}.bak-{stamp}-{n}")
        n += 1
    shutil.copy2(path, backup)
    return backup


def _dump(doc: dict) -> bytes:
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


@dataclass
class SettingsChange:
    path: Path
    changed: bool
    backup: Path | None = None
    created: bool = False
    restored: bool = False  # put back exactly as it was before install
    removed: bool = False  # install created it; uninstall removed it


def update_settings(path: Path, transform: Callable[[dict], dict], dry_run: bool = False) -> SettingsChange:
    # Write through a symlink (dotfile managers) instead of replacing the link with a file.
    path = path.expanduser()
    real = path.resolve() if path.is_symlink() else path
    try:  # before reading it too: reading a FIFO blocks, and the rename would replace /dev/null with a file
        check_output_path(real)
    except NotRegularFile as e:
        raise SettingsError(str(e)) from None
    doc, existed = load_settings(real)
    new = transform(doc)
    if existed and new == doc:
        return SettingsChange(path, changed=False)
    if not existed and not new:
        return SettingsChange(path, changed=False)
    if dry_run:
        return SettingsChange(path, changed=True, created=not existed)
    backup = _backup(real) if existed else None
    mode = real.stat().st_mode & 0o7777 if existed else 0o600
    write_atomic(real, _dump(new), mode, durable=True)
    return SettingsChange(path, changed=True, backup=backup, created=not existed)


# -- I/O: putting the settings back exactly --------------------------------------------------------------

INSTALL_STATE_NAME = "install-state.json"


def install_state_path() -> Path:
    return Path(locations.config_dir()) / INSTALL_STATE_NAME


def _real(path: Path) -> Path:
    path = path.expanduser()
    return path.resolve() if path.is_symlink() else path.absolute()


def _read_state() -> dict:
    try:
        doc = json.loads(install_state_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _remember_original(path: Path) -> None:
    """Before the first install into `path`: its exact bytes (or that it did not exist), so uninstall can put
    them back. A later install keeps the first record."""
    real = _real(path)
    state = _read_state()
    if str(real) in state:
        return
    try:
        check_output_path(real)
        original = base64.b64encode(real.read_bytes()).decode() if real.is_file() else None
    except (OSError, NotRegularFile):
        return  # update_settings says why it cannot write there
    state[str(real)] = {"original": original}
    install_state_path().parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(install_state_path(), _dump(state), 0o600, durable=True)


def _forget(real: Path) -> None:
    state = _read_state()
    if state.pop(str(real), None) is not None:
        if state:
            write_atomic(install_state_path(), _dump(state), 0o600, durable=True)
        else:
            install_state_path().unlink(missing_ok=True)


def _restore_original(path: Path, transform: Callable[[dict], dict]) -> SettingsChange | None:
    """When removing our part leaves exactly what was there before install, put the original bytes back (or
    remove the file install created) and the backups install made of them. None: do the ordinary removal."""
    real = _real(path)
    entry = _read_state().get(str(real))
    if not isinstance(entry, dict) or not real.is_file():
        return None
    doc, _existed = load_settings(real)
    left = transform(doc)
    original = entry.get("original")
    raw = base64.b64decode(original) if isinstance(original, str) else None
    try:
        before = (json.loads(raw) if raw and raw.strip() else {}) if raw is not None else {}
    except ValueError:
        return None
    if left != before:
        return None  # the user changed other settings since: keep those, remove only ours
    check_output_path(real)
    if raw is None:
        real.unlink()
    else:
        write_atomic(real, raw, real.stat().st_mode & 0o7777, durable=True)
    for backup in real.parent.glob(f"{real.name}.bak-*"):
        with contextlib.suppress(OSError):
            if raw is not None and backup.read_bytes() == raw:  # install's copy of what is now back in place
                backup.unlink()
    _forget(real)
    return SettingsChange(path, changed=True, restored=True, removed=raw is None)


# -- the two commands -------------------------------------------------------------------------------------


def precompile() -> None:
    """Cache the hook's modules as bytecode so no hook run pays to compile them (even with
    PYTHONDONTWRITEBYTECODE set in the user's shell)."""
    for name in ("fastpath.py", "locations.py", "statusline.py"):
        # A read-only install is fine: the hook then compiles in memory.
        with contextlib.suppress(OSError, py_compile.PyCompileError):
            py_compile.compile(str(HOOKS_DIR / name), doraise=True)


def replaced_statusline_path() -> Path:
    return Path(locations.config_dir()) / REPLACED_STATUSLINE_NAME


def _read_replaced() -> object:
    try:
        return json.loads(replaced_statusline_path().read_text(encoding="utf-8"))["statusLine"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def install(
    settings_path: Path | None, service: bool, dry_run: bool, statusline: bool = False, force: bool = False
) -> tuple[SettingsChange, ServiceResult | None]:
    path = settings_path or default_settings_path()
    home = os.environ.get("SKILL_INSIGHTS_HOME") or None
    commands = {event: hook_command(arg, home=home) for event, arg in EVENTS.items()}
    replaced: list[object] = []
    if not dry_run:
        _remember_original(path)

    def transform(doc: dict) -> dict:
        doc = merge_hooks(doc, commands)
        if statusline:
            doc, old = merge_statusline(doc, statusline_command(), force)
            if old is not None:
                replaced.append(old)
                if not dry_run:  # kept before the settings change, so uninstall can always put it back
                    replaced_statusline_path().parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                    write_atomic(replaced_statusline_path(), _dump({"statusLine": old}), 0o600, durable=True)
        return doc

    change = update_settings(path, transform, dry_run=dry_run)
    if not dry_run:
        precompile()
    svc = install_service(dry_run=dry_run) if service else None
    return change, svc


def uninstall(settings_path: Path | None, service: bool, dry_run: bool) -> tuple[SettingsChange, ServiceResult | None]:
    path = settings_path or default_settings_path()
    replaced = _read_replaced()

    def transform(doc: dict) -> dict:
        return remove_statusline(remove_hooks(doc), replaced)

    change = None if dry_run else _restore_original(path, transform)
    if change is None:
        change = update_settings(path, transform, dry_run=dry_run)
    if not dry_run:
        replaced_statusline_path().unlink(missing_ok=True)
    svc = uninstall_service(dry_run=dry_run) if service else None
    return change, svc
