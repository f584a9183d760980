"""What `install` and `uninstall` say they did (or, with --dry-run, would do) to the settings and the service."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from skill_insights.hooks.install import ServiceResult, SettingsChange


def change_lines(change: SettingsChange, svc: ServiceResult | None, dry_run: bool, verb: str) -> list[str]:
    """One line for the settings file, one per service step; `verb` is what happened to the hooks."""
    would = "would be " if dry_run else ""
    if change.removed:
        lines = [f"settings  {change.path}: removed (install had created it)"]
    elif change.restored:
        lines = [f"settings  {change.path}: restored exactly as it was before install"]
    elif change.changed:
        made = "created" if change.created else "updated"
        backup = f" (backup: {change.backup})" if change.backup else ""
        lines = [f"settings  {change.path}: {would}{made}, hooks {verb}{backup}"]
    else:
        lines = [f"settings  {change.path}: already up to date, nothing changed"]
    if svc is not None:
        lines += [f"service   {m}" for m in svc.messages or [f"{svc.kind}: nothing to do"]]
    return lines
