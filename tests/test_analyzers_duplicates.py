"""Duplicates: exact copies, near-duplicates by MinHash/LSH, groups, and the optional LLM pair judge."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from test_analyzers_support import inventory, messages_reply, serve, skill_entry, write_skill

from skill_insights.analyzers import duplicates
from skill_insights.analyzers.duplicates import Item, find_duplicates
from skill_insights.analyzers.runner import validate
from skill_insights.store import open_db

random.seed(7)
VOCAB = [f"term{i}" for i in range(3000)]


def prose(n: int = 150) -> str:
    return " ".join(random.choice(VOCAB) for _ in range(n))


def edit(text: str, fraction: float) -> str:
    words = text.split()
    for i in random.sample(range(len(words)), int(len(words) * fraction)):
        words[i] = random.choice(VOCAB)
    return " ".join(words)


def test_find_duplicates_exact_near_and_distinct() -> None:
    base, other, third = prose(), prose(), prose()
    texts = [base, base, edit(base, 0.05), other, edit(other, 0.05), third]
    # 0 and 1: identical content under different names (exact); 2 is near 0/1; 3–4 near; 5 alone
    items = [Item(i, f"skill-{i}", f"skill-{i}\n{t}") for i, t in enumerate(texts)]
    res = find_duplicates(items, texts)
    assert res["exact"] == [[0, 1]]
    groups = {tuple(g["members"]) for g in res["near"]}
    assert groups == {(0, 1, 2), (3, 4)}
    for g in res["near"]:
        assert 0.5 <= g["similarity"] < 1.0
        assert all(a < b for a, b, _ in g["pairs"])


def test_find_duplicates_by_content_hash_and_empty_texts() -> None:
    items = [Item(0, "a", "a", "same"), Item(1, "b", "b", "same"), Item(2, "c", "", "")]
    res = find_duplicates(items, ["x", "y", ""])
    assert res["exact"] == [[0, 1]]
    assert res["near"] == []


def _skills(tmp_path: Path) -> tuple[dict[str, Any], str]:
    body = prose(200)
    root = tmp_path / "skills"
    a = write_skill(root, "pdf-extract", description="Extracts PDF text. Use when PDFs come up.", body=body)
    b = write_skill(root, "pdf-text", description="Extracts PDF text. Use when PDFs come up.", body=body)
    c = write_skill(
        root, "pdf-extract-v2", description="Extracts PDF text. Use when PDFs come up.", body=edit(body, 0.04)
    )
    d = write_skill(root, "sql-format", body=prose(200))
    copy_loc = {"path": str(tmp_path / "vendored" / "sql-format"), "agent": "codex", "scope": "user", "is_link": False}
    inv = inventory(skill_entry(a), skill_entry(b), skill_entry(c), skill_entry(d, extra_locations=[copy_loc]))
    return inv, body


def test_duplicates_phase_groups_and_findings(tmp_path: Path) -> None:
    inv, _ = _skills(tmp_path)
    out = duplicates.run(inv, {})
    assert validate("duplicates", out) == []
    kinds = [(g["kind"], sorted(s["name"] for s in g["skills"])) for g in out["groups"]]
    assert kinds == [("exact", ["pdf-extract", "pdf-text"]), ("near", ["pdf-extract", "pdf-extract-v2", "pdf-text"])]
    near = out["groups"][1]
    assert 0.5 <= near["similarity"] < 1.0 and near["pairs"]
    by_rule: dict[str, set[str]] = {}
    for f in out["findings"]:
        by_rule.setdefault(f["rule"], set()).add(f["skill"]["name"])
    assert by_rule["duplicates.exact"] == {"pdf-extract", "pdf-text"}
    assert by_rule["duplicates.near"] == {"pdf-extract", "pdf-extract-v2", "pdf-text"}
    assert by_rule["duplicates.copies"] == {"sql-format"}


def test_llm_pair_judgement_is_cached_and_distinct_silences_the_finding(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-dup")
    inv, _ = _skills(tmp_path)
    db_path = tmp_path / "store.db"
    open_db(db_path).conn.close()
    verdict = {"verdict": "distinct", "reason": "one extracts, the other summarises"}
    with serve(lambda req: (200, messages_reply(verdict))) as srv:
        opts = {
            "llm": True,
            "db_path": str(db_path),
            "llm_config": {"base_url": srv.url, "model": "m", "key_file": None, "timeout": 5.0},
        }
        out = duplicates.run(inv, opts)
        assert validate("duplicates", out) == []
        pairs = out["groups"][1]["pairs"]
        assert pairs and all(p["llm"]["verdict"] == "distinct" and p["llm"]["reason"] for p in pairs)
        assert not [f for f in out["findings"] if f["rule"] == "duplicates.near"]
        asked = len(srv.requests)
        assert asked == len(pairs)
        prompt = json.loads(srv.requests[0].body)["messages"][0]["content"]
        assert "<skill_a" in prompt and "<skill_b" in prompt
        again = duplicates.run(inv, opts)
        assert len(srv.requests) == asked  # every pair answered from the cache
        assert all(p["llm"]["cached"] for p in again["groups"][1]["pairs"])
    # an unparseable verdict is an error on the pair, and the finding stays
    with serve(lambda req: (200, messages_reply({"verdict": "maybe"}))) as srv:
        opts["llm_config"]["model"] = "other-model"  # a different model misses the cache
        out = duplicates.run(inv, opts)
        assert all(p["llm"]["status"] == "error" for p in out["groups"][1]["pairs"])
        assert [f for f in out["findings"] if f["rule"] == "duplicates.near"]


def test_minhash_estimates_jaccard_and_is_the_same_in_every_process() -> None:
    import subprocess
    import sys

    from skill_insights.analyzers.duplicates import shingles
    from skill_insights.analyzers.minhash import bands_for, hash64, signature, similarity

    base = [hash64(f"w{i}".encode()) for i in range(400)]
    for keep in (400, 300, 200, 100):  # Jaccard 1.0, 0.6, 0.33, 0.14 against a set of fresh words
        other = base[:keep] + [hash64(f"x{i}".encode()) for i in range(400 - keep)]
        true = keep / (800 - keep)
        assert abs(similarity(signature(base), signature(other)) - true) < 0.12
    # Word 3-grams: the same shingles whatever the case and spacing, a swap of two words is another shingle.
    assert shingles("Alpha beta  gamma") == shingles("alpha BETA gamma") != shingles("beta alpha gamma")
    assert len(shingles("a b c d e")) == 3 and len(shingles("a b")) == 1 and shingles("") == set()
    words = [f"w{i}" for i in range(300)]
    text, edited = " ".join(words), " ".join(words[:270] + [f"y{i}" for i in range(30)])
    true = len(shingles(text) & shingles(edited)) / len(shingles(text) | shingles(edited))
    assert abs(similarity(signature(shingles(text)), signature(shingles(edited))) - true) < 0.12
    small = signature([hash64(b"only one shingle")])  # every bin filled from one value
    assert similarity(small, small) == 1.0 and similarity(small, signature([hash64(b"another")])) == 0.0
    assert bands_for(0.4) == (32, 4)  # the banding datasketch picks for this threshold
    code = "from skill_insights.analyzers.duplicates import shingles as s; print(s('a b c d'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == str(shingles("a b c d"))


def test_the_duplicates_phase_needs_no_numeric_libraries() -> None:
    # numpy and scipy (~200 MB installed, ~0.5 s to import) came with datasketch, for one hash per shingle.
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from skill_insights.analyzers.duplicates import Item, find_duplicates\n"
        "texts = ['alpha beta gamma delta epsilon zeta eta theta', 'alpha beta gamma delta epsilon zeta eta iota']\n"
        "res = find_duplicates([Item(i, str(i), t) for i, t in enumerate(texts)], texts)\n"
        "assert [g['members'] for g in res['near']] == [[0, 1]], res\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'scipy', 'datasketch'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
