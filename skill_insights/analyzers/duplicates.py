"""Duplicates: exact copies under different names or places, and near-duplicates by MinHash + LSH.

Sub-quadratic: each skill's name + description + body becomes a set of word 3-gram shingles, a 128-bin
MinHash signature (`minhash.py`, pure Python), and LSH banding returns candidate pairs whose estimated Jaccard
similarity is then checked against the threshold. Pairs join into groups with union-find. An optional LLM
judges each candidate pair.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from skill_insights.analyzers.minhash import NUM_PERM, candidate_pairs, hash64, shingle_hashes, signature, similarity
from skill_insights.analyzers.model import finding, load_doc, phase_output, skills_from_inventory

PHASE = "duplicates"
DEFAULT_THRESHOLD = 0.4
SHINGLE_WORDS = 3
MAX_LLM_PAIRS = 200

_WORD_RE = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class Item:
    key: int  # index into the caller's list
    name: str
    text: str  # name + description + body
    content_hash: str = ""


def normalise(text: str) -> list[str]:
    return _WORD_RE.findall(text.lower())


def shingles(text: str, k: int = SHINGLE_WORDS, word_hashes: dict[str, int] | None = None) -> set[int]:
    """Hashes of the text's word k-grams. `word_hashes` memoises each word's hash across texts."""
    memo = {} if word_hashes is None else word_hashes
    hashes = []
    for w in normalise(text):
        h = memo.get(w)
        if h is None:
            h = memo[w] = hash64(w.encode())
        hashes.append(h)
    return shingle_hashes(hashes, k)


def exact_key(text_without_name: str) -> str:
    # Same words in the same order = same content, whatever the name, whitespace or case.
    return hashlib.sha256(" ".join(normalise(text_without_name)).encode()).hexdigest()


class UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def find_duplicates(
    items: Sequence[Item], bodies: Sequence[str], threshold: float = DEFAULT_THRESHOLD, num_perm: int = NUM_PERM
) -> dict[str, Any]:
    """Pure core. `bodies[i]` is item i's content without its name (for exact matching).

    Returns {"exact": [[i, ...]], "near": [{"members": [i, ...], "similarity", "pairs": [(i, j, sim)]}]}.
    """
    n = len(items)
    # Exact: by inventory content hash, or by the same normalised description + body.
    uf_exact = UnionFind(n)
    first_by: dict[str, int] = {}
    for i, it in enumerate(items):
        for key in filter(None, (f"h:{it.content_hash}" if it.content_hash else "", f"t:{exact_key(bodies[i])}")):
            if key in first_by:
                uf_exact.union(first_by[key], i)
            else:
                first_by[key] = i
    classes: dict[int, list[int]] = defaultdict(list)
    for i in range(n):
        classes[uf_exact.find(i)].append(i)
    exact = [sorted(m) for m in classes.values() if len(m) > 1]
    reps = sorted(classes)  # one representative per exact class goes into the near search

    word_hashes: dict[str, int] = {}
    sets = [shingles(items[r].text, SHINGLE_WORDS, word_hashes) for r in reps]
    keep = [k for k, s in enumerate(sets) if s]
    sigs = [signature(sets[k], num_perm) for k in keep]
    pairs: list[tuple[int, int, float]] = []
    for x, y in sorted(candidate_pairs(sigs, threshold)):
        sim = similarity(sigs[x], sigs[y])
        if sim >= threshold:
            pairs.append((reps[keep[x]], reps[keep[y]], round(sim, 3)))
    uf = UnionFind(n)
    for a, b, _ in pairs:
        uf.union(a, b)
    comps: dict[int, list[int]] = defaultdict(list)
    for r in reps:
        comps[uf.find(r)].append(r)
    pairs_by_comp: dict[int, list[tuple[int, int, float]]] = defaultdict(list)
    for p in pairs:
        pairs_by_comp[uf.find(p[0])].append(p)
    near: list[dict[str, Any]] = []
    for root, members in comps.items():
        if len(members) < 2:
            continue
        # a near group lists every copy of its exact classes too
        full = sorted(i for r in members for i in classes[r])
        ps = sorted(pairs_by_comp[root])
        near.append({"members": full, "similarity": min(s for _, _, s in ps), "pairs": ps})
    near.sort(key=lambda g: (-g["similarity"], g["members"]))
    return {"exact": sorted(exact), "near": near}


def run(inventory: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    views = skills_from_inventory(inventory)
    texts: list[str] = []
    bodies: list[str] = []
    for v in views:
        doc = load_doc(v, texts=False)  # SKILL.md's body only
        desc = v.description or str((doc.frontmatter.data or {}).get("description") or "")
        body = doc.body
        bodies.append(f"{desc}\n{body}")
        texts.append(f"{v.name}\n{desc}\n{body}")
    threshold = float(options.get("duplicate_threshold") or DEFAULT_THRESHOLD)
    items = [Item(i, v.name, texts[i], v.content_hash) for i, v in enumerate(views)]
    res = find_duplicates(items, bodies, threshold)

    judge = None
    llm_status: dict[str, Any] = {"status": "off"}
    if options.get("llm"):
        from skill_insights.analyzers import llm

        judge, llm_status = llm.client_from_options(options)

    groups: list[dict[str, Any]] = []
    findings: list[dict[str, Any]] = []
    for members in res["exact"]:
        gid = len(groups)
        groups.append({"kind": "exact", "similarity": 1.0, "skills": [views[i].ref() for i in members], "pairs": []})
        for i in members:
            others = [views[j].ref() for j in members if j != i]
            findings.append(
                finding(
                    views[i],
                    "duplicates.exact",
                    "warning",
                    f"same content as {', '.join(o['name'] for o in others)}",
                    "Keep one copy (or link to it) and remove the others.",
                    {"group": gid, "others": others, "similarity": 1.0},
                )
            )
    # A near pair is found between representatives of exact classes: it speaks for every copy in the class.
    same_class = {i: set(members) for members in res["exact"] for i in members}
    judged = 0
    for g in res["near"]:
        gid = len(groups)
        pairs_out = []
        for a, b, sim in g["pairs"]:
            pair: dict[str, Any] = {"a": views[a].ref(), "b": views[b].ref(), "similarity": sim}
            if judge is not None and judged < MAX_LLM_PAIRS:
                judged += 1
                pair["llm"] = judge.judge_pair(views[a], texts[a], views[b], texts[b])
            pairs_out.append(pair)
        groups.append(
            {
                "kind": "near",
                "similarity": g["similarity"],
                "skills": [views[i].ref() for i in g["members"]],
                "pairs": pairs_out,
            }
        )
        for i in g["members"]:
            others = [views[j].ref() for j in g["members"] if j != i]
            mine = [p for (a, b, _), p in zip(g["pairs"], pairs_out, strict=True) if same_class.get(i, {i}) & {a, b}]
            best = max((p["similarity"] for p in mine), default=g["similarity"])
            verdicts = [p["llm"]["verdict"] for p in mine if p.get("llm", {}).get("status") == "ok"]
            if verdicts and all(v == "distinct" for v in verdicts):
                continue  # the judge read both and says they do different jobs
            findings.append(
                finding(
                    views[i],
                    "duplicates.near",
                    "warning" if best >= 0.8 else "info",
                    f"about {best:.0%} similar to {', '.join(o['name'] for o in others[:5])}",
                    "Merge the overlapping skills, or make their descriptions say how they differ.",
                    {"group": gid, "others": others, "similarity": best, "verdicts": verdicts},
                )
            )
    for v in views:
        copies = [loc.path for loc in v.locations if not loc.is_link]
        if len(copies) > 1:
            findings.append(
                finding(
                    v,
                    "duplicates.copies",
                    "info",
                    f"{len(copies)} separate copies of this skill on disk",
                    "Keep one copy and link the others to it, so an edit reaches every agent.",
                    {"paths": copies},
                )
            )
    if judge is not None:
        llm_status = judge.status()
    return phase_output(
        PHASE,
        "groups",
        groups,
        findings,
        len(views),
        exact_groups=len(res["exact"]),
        near_groups=len(res["near"]),
        threshold=threshold,
        llm=llm_status,
    )
