"""Runs the analysis phases in a process pool, validates each output against its schema, stores the results.

A phase is `module:function(inventory, options) -> dict`. Each runs in its own worker process, so a phase that
raises, hangs on I/O or crashes its interpreter is reported as failed while the others finish.
"""

from __future__ import annotations

import importlib
import json
import os
import time
import traceback
from concurrent.futures import as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlite_utils

from skill_insights.processes import process_pool
from skill_insights.schemas.validate import problems

if TYPE_CHECKING:
    from skill_insights.store.queries import Activation

PHASES: dict[str, str] = {
    "staleness": "skill_insights.analyzers.staleness:run",
    "quality": "skill_insights.analyzers.quality:run",
    "duplicates": "skill_insights.analyzers.duplicates:run",
    "registry": "skill_insights.analyzers.registry:run",
}
MAX_WORKERS = 2
# Runs whose findings and full outputs are kept; older runs keep only their row and per-phase summaries, so a
# daemon analysing every hour does not grow the store without bound.
KEEP_RUNS = 10
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


@dataclass
class PhaseResult:
    name: str
    status: str  # ok | error | invalid
    seconds: float
    output: dict[str, Any] | None = None
    error: str | None = None
    details: list[str] = field(default_factory=list)


def _call(target: str, inventory: dict[str, Any], options: dict[str, Any]) -> tuple[str, float, Any]:
    """Worker entry: never raises, so the parent gets the time and the reason along with a failure."""
    t0 = time.perf_counter()
    try:
        mod, _, fn = target.partition(":")
        out = getattr(importlib.import_module(mod), fn)(inventory, options)
        return "ok", time.perf_counter() - t0, out
    except BaseException as e:
        tb = traceback.format_exception(e)
        return "error", time.perf_counter() - t0, {"error": f"{type(e).__name__}: {e}", "traceback": tb[-3:]}


def validate(phase: str, output: Any) -> list[str]:
    """Problems with `output` against the phase's schema, each naming the failing path; [] when valid."""
    name = f"analysis_{phase}"
    try:
        found = problems(output, name)
    except OSError:
        return [f"no schema {name}.schema.json"]
    return [f"{'/'.join(map(str, path)) or '(root)'}: {message[:200]}" for path, message in found]


def run_phases(
    inventory: dict[str, Any],
    options: dict[str, Any],
    phases: list[str] | None = None,
    targets: dict[str, str] | None = None,
    workers: int = MAX_WORKERS,
) -> dict[str, PhaseResult]:
    targets = targets or PHASES
    names = list(dict.fromkeys(phases or list(targets)))
    unknown = [n for n in names if n not in targets]
    if unknown:
        raise ValueError(f"unknown phase(s): {', '.join(unknown)} (known: {', '.join(targets)})")
    results: dict[str, PhaseResult] = {}
    broken = _run_pool(names, targets, inventory, options, workers, results)
    if len(broken) > 1:
        # A worker died (os._exit, a segfault, the OOM killer) and took the pool's other phases with it: run
        # those again one pool each, so only the phase that really crashes is reported as failed.
        for name in broken:
            _run_pool([name], targets, inventory, options, 1, results)
    return {n: results[n] for n in names}


def _run_pool(
    names: list[str],
    targets: dict[str, str],
    inventory: dict[str, Any],
    options: dict[str, Any],
    workers: int,
    results: dict[str, PhaseResult],
) -> list[str]:
    broken: list[str] = []
    with process_pool(min(workers, len(names))) as pool:
        futures = {pool.submit(_call, targets[n], inventory, options): n for n in names}
        for fut in as_completed(futures):
            name = futures[fut]
            try:
                status, seconds, out = fut.result()
            except BrokenProcessPool:
                broken.append(name)
                results[name] = PhaseResult(name, "error", 0.0, error="the phase's worker process died")
                continue
            if status != "ok":
                results[name] = PhaseResult(
                    name, "error", round(seconds, 3), error=out["error"], details=out.get("traceback", [])
                )
                continue
            problems = validate(name, out)
            if problems:
                results[name] = PhaseResult(
                    name,
                    "invalid",
                    round(seconds, 3),
                    output=None,
                    error=f"output does not match its schema: {problems[0]}",
                    details=problems,
                )
            else:
                results[name] = PhaseResult(name, "ok", round(seconds, 3), output=out)
    return broken


def _phase_entry(status: str, seconds: float, summary: dict[str, Any] | None, error: str | None) -> dict[str, Any]:
    """One phase in the `analyze --json` document: status and time, the phase's summary, its error."""
    entry: dict[str, Any] = {"status": status, "seconds": seconds}
    entry.update({k: v for k, v in (summary or {}).items() if k not in entry})
    if error:
        entry["error"] = error
    return entry


def _sort_findings(findings: list[dict[str, Any]]) -> None:
    findings.sort(key=lambda f: (SEVERITY_ORDER.get(f["severity"], 9), f["phase"], f["skill"]["name"], f["rule"]))


def report(results: dict[str, PhaseResult]) -> dict[str, Any]:
    """The `analyze --json` document."""
    phases: dict[str, Any] = {}
    findings: list[dict[str, Any]] = []
    groups: list[dict[str, Any]] = []
    for name, r in results.items():
        out = r.output or {}
        phases[name] = _phase_entry(r.status, r.seconds, out.get("summary"), r.error)
        findings.extend({"phase": name, **f} for f in out.get("findings", []))
        groups.extend(
            {"kind": g["kind"], "similarity": g["similarity"], "skills": g["skills"]} for g in out.get("groups", [])
        )
    _sort_findings(findings)
    return {"phases": phases, "findings": findings, "duplicate_groups": groups}


def store_run(
    db: sqlite_utils.Database, inventory: dict[str, Any], results: dict[str, PhaseResult], started: datetime
) -> int:
    from skill_insights.store import write_transaction

    status = "ok" if all(r.status == "ok" for r in results.values()) else "partial"
    with write_transaction(db) as conn:
        cur = conn.execute(
            "INSERT INTO analysis_runs (started_at, finished_at, inventory_generated_at, inventory_skills, phases, "
            "status) VALUES (?, ?, ?, ?, ?, ?)",
            [
                started.isoformat(timespec="seconds"),
                datetime.now(UTC).isoformat(timespec="seconds"),
                inventory.get("generated_at"),
                len(inventory.get("skills") or []),
                json.dumps(list(results)),
                status,
            ],
        )
        run_id = int(cur.lastrowid or 0)
        for name, r in results.items():
            out = r.output or {}
            conn.execute(
                "INSERT INTO analysis_phase_results (run_id, phase, status, seconds, error, summary, output) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    run_id,
                    name,
                    r.status,
                    r.seconds,
                    r.error,
                    json.dumps(out.get("summary")),
                    json.dumps(out) if out else None,
                ],
            )
            conn.executemany(
                "INSERT INTO analysis_findings (run_id, phase, skill_id, skill_name, rule, severity, message, fix, "
                "evidence) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    [
                        run_id,
                        name,
                        f["skill"]["id"],
                        f["skill"]["name"],
                        f["rule"],
                        f["severity"],
                        f["message"],
                        f["fix"],
                        json.dumps(f["evidence"]),
                    ]
                    for f in out.get("findings", [])
                ],
            )
            conn.executemany(
                "INSERT INTO analysis_duplicate_groups (run_id, group_no, kind, similarity, skills, pairs) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    [run_id, i, g["kind"], g["similarity"], json.dumps(g["skills"]), json.dumps(g.get("pairs", []))]
                    for i, g in enumerate(out.get("groups", []))
                ],
            )
        old = run_id - KEEP_RUNS
        if old > 0:
            conn.execute("DELETE FROM analysis_findings WHERE run_id <= ?", [old])
            conn.execute("DELETE FROM analysis_duplicate_groups WHERE run_id <= ?", [old])
            conn.execute(
                "UPDATE analysis_phase_results SET output = NULL WHERE run_id <= ? AND output IS NOT NULL", [old]
            )
    return run_id


def latest_run(db: sqlite_utils.Database) -> dict[str, Any] | None:
    """The newest stored run as the `analyze --json` document (for the report and other readers)."""
    row = db.execute("SELECT id FROM analysis_runs ORDER BY id DESC LIMIT 1").fetchone()
    if row is None:
        return None
    run_id = row[0]
    phases: dict[str, Any] = {}
    for phase, status, seconds, error, summary in db.execute(
        "SELECT phase, status, seconds, error, summary FROM analysis_phase_results WHERE run_id = ? ORDER BY rowid",
        [run_id],
    ):
        phases[phase] = _phase_entry(status, seconds, json.loads(summary) if summary else None, error)
    findings = [
        {
            "phase": ph,
            "skill": {"id": sid, "name": name},
            "rule": rule,
            "severity": sev,
            "message": msg,
            "fix": fix,
            "evidence": json.loads(ev or "{}"),
        }
        for ph, sid, name, rule, sev, msg, fix, ev in db.execute(
            "SELECT phase, skill_id, skill_name, rule, severity, message, fix, evidence FROM analysis_findings "
            "WHERE run_id = ? ORDER BY id",
            [run_id],
        )
    ]
    _sort_findings(findings)
    groups = [
        {"kind": kind, "similarity": sim, "skills": json.loads(skills)}
        for kind, sim, skills in db.execute(
            "SELECT kind, similarity, skills FROM analysis_duplicate_groups WHERE run_id = ? ORDER BY group_no",
            [run_id],
        )
    ]
    return {"run_id": run_id, "phases": phases, "findings": findings, "duplicate_groups": groups}


def usage_from_store(db: sqlite_utils.Database) -> dict[str, dict[str, Any]]:
    """Captured skill activations per name: count, sessions, last use (epoch seconds)."""
    from skill_insights.store.queries import skill_usage_by_name, tally_record

    return {name: tally_record(t) for name, t in skill_usage_by_name(db).items() if t.last_ts is not None}


def usage_by_skill(
    db: sqlite_utils.Database, inventory: dict[str, Any], activations: list[Activation] | None = None
) -> dict[str, dict[str, Any]]:
    """Captured activations per inventory skill id, each resolved the way Claude Code picks a skill (a project
    skill of the session's cwd first, then a user skill, then a plugin skill) by the inventory's resolver."""
    from skill_insights.inventory import Resolver, tally

    locs = []
    for s in inventory.get("skills") or []:
        for loc in s.get("locations") or []:
            names = loc.get("names") or s.get("names") or [s.get("name"), os.path.basename(str(loc.get("path")))]
            locs.append(
                {
                    "path": loc.get("path"),
                    "skill_id": s.get("id"),
                    "agent": loc.get("agent"),
                    "scope": loc.get("scope"),
                    "installed": loc.get("installed", True),
                    "project_root": loc.get("project_root"),
                    "names": [n for n in names if n],
                }
            )
    per, _missing = tally(db, Resolver(locs), activations)
    return {
        k: {"activations": v["activations"], "sessions": len(v["sessions"]), "last_used": v["last_ts"]}
        for k, v in per.items()
        if v["last_ts"] is not None
    }


def analyze(
    db: sqlite_utils.Database,
    inventory: dict[str, Any],
    options: dict[str, Any],
    phases: list[str] | None = None,
    targets: dict[str, str] | None = None,
) -> tuple[int, dict[str, PhaseResult]]:
    """Run, store, and return (run id, results)."""
    started = datetime.now(UTC)
    if options.get("usage") is None:
        from skill_insights.store.queries import skill_activations, tally_record, usage_by_name

        activations = skill_activations(db)  # read once for both views
        by_name = {n: tally_record(t) for n, t in usage_by_name(activations).items() if t.last_ts is not None}
        options = {**options, "usage": by_name, "usage_by_skill": usage_by_skill(db, inventory, activations)}
    results = run_phases(inventory, options, phases, targets)
    return store_run(db, inventory, results, started), results
