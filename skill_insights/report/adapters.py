"""Read the inventory and analysis tables (owned by the scan and analyze subsystems) into report records.

Read-only, and tolerant: a table that is not there yet gives an empty section with `available: False`.

Record shapes the report relies on:
  skill     {id, name, description, agents[], scopes[], locations[{path, agent, scope, is_link}], files,
             content_hash, last_changed, score, tile, activations?, sessions?, last_used?, use_keys[]}
  finding   {phase, skill_id, rule, severity, message, fix, evidence}
  group     {id, kind, similarity, skills[{id, name}]}
  manifest  {path, kind, name, version, mode, dependencies[{name, installed, latest, behind, status}]}
  change    {skill_id, name, change, at, detail}
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from skill_insights.collectors.skills.store import recent_changes
from skill_insights.report.tables import Store, json_or


def _inventory_doc(st: Store) -> dict[str, Any] | None:
    """The newest stored inventory document, through the one reader that knows how scans are stored."""
    from skill_insights.analyzers.source import latest_stored

    try:
        doc = latest_stored(st.db)
    except Exception:  # a scan table mid-migration or a document that does not parse: no inventory section
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("skills"), list) else None


def _scan_finding(f: dict, skill_id: str | None, skill_name: str | None) -> dict:
    from skill_insights.analyzers.problems import _scan

    return _scan(f, skill_id, skill_name)


def _skill(s: dict[str, Any], scan_findings: list[dict[str, Any]]) -> dict[str, Any]:
    locs = [
        {
            "path": str(loc.get("path") or ""),
            "agent": loc.get("agent") or "unknown",
            "scope": loc.get("scope") or "",
            "is_link": bool(loc.get("is_link")),
            "tile": loc.get("tile") or loc.get("plugin"),
        }
        for loc in s.get("locations") or []
        if isinstance(loc, dict)
    ]
    sid = str(s.get("id") or s.get("content_hash") or s.get("name"))
    name = str(s.get("name") or "(unnamed)")
    scan_findings.extend(_scan_finding(f, sid, name) for f in s.get("findings") or [] if isinstance(f, dict))
    files = s.get("files")
    return {
        "id": sid,
        "name": name,
        "description": s.get("description") if isinstance(s.get("description"), str) else "",
        "content_hash": s.get("content_hash"),
        "agents": sorted({loc["agent"] for loc in locs}),
        "scopes": sorted({loc["scope"] for loc in locs if loc["scope"]}),
        "locations": locs,
        "files": len(files) if isinstance(files, list) else files,
        "tile": next((loc["tile"] for loc in locs if loc["tile"]), None),
        "last_changed": None,
        # Names an activation may carry: the frontmatter name, folder names, plugin-namespaced names.
        "use_keys": list(dict.fromkeys([name, *[n for n in s.get("names") or [] if isinstance(n, str)]])),
    }


def _manifest(m: dict[str, Any]) -> dict[str, Any]:
    deps = []
    raw = m.get("dependencies")
    items = raw.items() if isinstance(raw, dict) else []
    for dep_name, d in items:
        d = d if isinstance(d, dict) else {"version": d}
        reg: dict[str, Any] = d["registry"] if isinstance(d.get("registry"), dict) else {}
        latest = d.get("latest") or d.get("latest_version") or reg.get("latest") or reg.get("latest_version")
        deps.append(
            {
                "name": dep_name,
                "installed": d.get("version") or d.get("installed"),
                "latest": latest,
                "behind": d.get("behind") if d.get("behind") is not None else reg.get("behind"),
                "status": d.get("status") or reg.get("status"),
            }
        )
    skills = m.get("skills")
    return {
        "path": m.get("path") or "",
        "kind": m.get("kind"),
        "name": m.get("name"),
        "version": m.get("version"),
        "mode": m.get("mode"),
        "scope": m.get("scope"),
        "summary": m.get("summary"),
        "dependencies": deps,
        "skills": sorted(skills) if isinstance(skills, dict | list) else [],
    }


def inventory(st: Store) -> dict[str, Any]:
    out: dict[str, Any] = {
        "available": False,
        "skills": [],
        "manifests": [],
        "changes": [],
        "scan_findings": [],
        "scanned_at": None,
    }
    doc = _inventory_doc(st)
    if doc is None:
        return out
    out["available"] = True
    out["scanned_at"] = doc.get("generated_at")
    out["skills"] = [_skill(s, out["scan_findings"]) for s in doc["skills"] if isinstance(s, dict)]
    # Workspace-level scan findings (a bad manifest, a link loop) belong to no skill: named by their path.
    out["scan_findings"].extend(
        _scan_finding(f, None, f.get("path")) for f in doc.get("findings") or [] if isinstance(f, dict)
    )
    out["manifests"] = [_manifest(m) for m in doc.get("manifests") or [] if isinstance(m, dict)]
    out["manifests"].sort(key=lambda m: (m["kind"] != "tessl.json", m["path"]))
    out["changes"] = recent_changes(st.db)  # added / removed / changed skills between the last scans
    return out


def _iso_day(ts: Any) -> str | None:
    """An epoch (seconds) or ISO string as YYYY-MM-DD."""
    if isinstance(ts, int | float) and ts > 0:
        return datetime.fromtimestamp(ts, UTC).astimezone().date().isoformat()
    if isinstance(ts, str) and len(ts) >= 10:
        return ts[:10]
    return None


def _phase_note(phase: str, doc: Any) -> str | None:
    """What a phase that ran but could not look says about itself (the registry phase with no registry)."""
    if phase != "registry" or not isinstance(doc, dict):
        return None
    summary: dict[str, Any] = doc["summary"] if isinstance(doc.get("summary"), dict) else {}
    if summary.get("checked"):
        return None
    reasons = {s.get("reason") for s in doc.get("skills") or [] if isinstance(s, dict)}
    if reasons == {"no registry configured"}:
        return "not configured"
    return "not reachable" if summary.get("not_checked") else None


def analysis(st: Store) -> dict[str, Any]:
    """The newest result of each phase (a run may have run only some phases) and its findings."""
    out: dict[str, Any] = {
        "available": False,
        "findings": [],
        "duplicate_groups": [],
        "scores": {},
        "phases": [],
        "skill_facts": {},
    }
    if not (st.has("analysis_phase_results") and st.has("analysis_findings")):
        return out
    latest = st.rows(
        """SELECT r.phase, r.run_id, r.status, r.seconds, r.error, r.output, a.finished_at
           FROM analysis_phase_results r LEFT JOIN analysis_runs a ON a.id = r.run_id
           WHERE r.run_id = (SELECT max(run_id) FROM analysis_phase_results x
                             WHERE x.phase = r.phase AND coalesce(x.error, '') = '')
           ORDER BY r.phase"""
    )
    if not latest:
        return out
    out["available"] = True
    for r in latest:
        out["phases"].append(
            {
                "phase": r["phase"],
                "status": r["status"],
                "seconds": r["seconds"],
                "run_id": r["run_id"],
                "finished_at": r["finished_at"],
                "note": _phase_note(r["phase"], json_or(r["output"], {})),
            }
        )
        for f in st.rows(
            """SELECT phase, skill_id, skill_name, rule, severity, message, fix, evidence FROM analysis_findings
               WHERE run_id = ? AND phase = ? ORDER BY id""",
            [r["run_id"], r["phase"]],
        ):
            f["evidence"] = json_or(f["evidence"], {})
            out["findings"].append(f)
        doc = json_or(r["output"], {})
        if not isinstance(doc, dict):
            continue
        if r["phase"] == "quality":
            for s in doc.get("skills") or []:
                sid = (s.get("skill") or {}).get("id")
                if sid and isinstance(s.get("score"), int | float):
                    out["scores"][sid] = s["score"]
        elif r["phase"] == "staleness":
            for s in doc.get("skills") or []:
                sid = (s.get("skill") or {}).get("id")
                if not sid:
                    continue
                git = s.get("git") or {}
                last = git.get("last_commit") or {}
                out["skill_facts"][sid] = {
                    "last_changed": _iso_day(s.get("last_change")),
                    "last_commit": (last.get("sha") or "")[:10] or None,
                    "commits": git.get("commits"),
                    "contributors": [c.get("author") for c in git.get("contributors") or []][:5],
                    "stale": bool(s.get("stale")),
                }
        elif r["phase"] == "duplicates":
            for g in st.rows(
                """SELECT group_no, kind, similarity, skills, pairs FROM analysis_duplicate_groups
                   WHERE run_id = ? ORDER BY kind = 'near', similarity DESC, group_no""",
                [r["run_id"]],
            ):
                skills = [s for s in json_or(g["skills"], []) if isinstance(s, dict)]
                reasons = [((p.get("llm") or {}).get("reason")) for p in json_or(g["pairs"], []) if isinstance(p, dict)]
                out["duplicate_groups"].append(
                    {
                        "id": g["group_no"] + 1,
                        "kind": g["kind"],
                        "similarity": g["similarity"],
                        "skills": [{"id": s.get("id"), "name": s.get("name")} for s in skills],
                        "reason": next((x for x in reasons if x), None),
                    }
                )
    return out
