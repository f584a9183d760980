"""Duplicate detection at 10,000 skills: wall time, and recall / precision of planted duplicate groups.

    python bench/duplicates.py [--skills 10000] [--groups 600] [--seed 1] [--disk]

Generates skills from a shared vocabulary with the same boilerplate headings (so unrelated skills share some
text, as real ones do), plants groups of 2–4 copies — exact renamed copies and near copies with 3–15 % of
words replaced plus a sentence added or dropped — and runs the duplicates core over all of them. With
`--disk` the skills are also written as folders and the whole phase (reading SKILL.md files) is timed.
Target: ≤ 10 s for 10,000 skills.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from itertools import accumulate, combinations
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from skill_insights.analyzers.duplicates import Item, find_duplicates

BOILERPLATE = "## When to use\n\n{when}\n\n## Instructions\n\n{body}\n\n## Examples\n\n{example}\n"


def make_vocab(rng: random.Random, n: int = 6000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(3, 9))) for _ in range(n)]


_WEIGHTS: dict[int, list[float]] = {}


def words(rng: random.Random, vocab: list[str], k: int) -> list[str]:
    # Zipf-distributed like natural language: a few words ("the", "use", "file") are in every skill, which is
    # what makes unrelated skills look a little alike and keeps precision honest.
    cum = _WEIGHTS.get(len(vocab))
    if cum is None:
        cum = _WEIGHTS[len(vocab)] = list(accumulate(1.0 / (r + 1) for r in range(len(vocab))))
    return rng.choices(vocab, cum_weights=cum, k=k)


def sentence(rng: random.Random, vocab: list[str], lo: int = 6, hi: int = 16) -> str:
    return " ".join(words(rng, vocab, rng.randint(lo, hi))).capitalize() + "."


def make_skill(rng: random.Random, vocab: list[str]) -> tuple[str, str, str]:
    name = "-".join(words(rng, vocab, rng.randint(2, 3)))
    desc = sentence(rng, vocab, 10, 25) + " Use when " + sentence(rng, vocab, 4, 10).lower()
    body = BOILERPLATE.format(
        when=sentence(rng, vocab),
        body="\n".join(f"{i}. {sentence(rng, vocab)}" for i in range(1, rng.randint(8, 20))),
        example=sentence(rng, vocab),
    )
    return name, desc, body


def perturb(rng: random.Random, vocab: list[str], text: str, fraction: float) -> str:
    lines = text.split("\n")
    if rng.random() < 0.5 and len(lines) > 6:
        del lines[rng.randrange(3, len(lines) - 2)]
    else:
        lines.insert(rng.randrange(3, len(lines)), sentence(rng, vocab))
    toks = "\n".join(lines).split(" ")
    for i in rng.sample(range(len(toks)), max(1, int(len(toks) * fraction))):
        toks[i] = words(rng, vocab, 1)[0]
    return " ".join(toks)


def generate(n: int, groups: int, seed: int) -> tuple[list[tuple[str, str, str]], list[list[int]]]:
    rng = random.Random(seed)
    vocab = make_vocab(rng)
    skills: list[tuple[str, str, str]] = []
    planted: list[list[int]] = []
    for _ in range(groups):
        name, desc, body = make_skill(rng, vocab)
        members = [len(skills)]
        skills.append((name, desc, body))
        for _ in range(rng.randint(1, 3)):
            members.append(len(skills))
            copy_name = f"{name}-{rng.choice(vocab)}"
            if rng.random() < 0.3:
                skills.append((copy_name, desc, body))  # exact copy under another name
            else:
                skills.append((copy_name, desc, perturb(rng, vocab, body, rng.uniform(0.03, 0.15))))
        planted.append(members)
    while len(skills) < n:
        skills.append(make_skill(rng, vocab))
    # shuffle so planted members are not neighbours
    order = list(range(len(skills)))
    rng.shuffle(order)
    where = {old: new for new, old in enumerate(order)}
    return [skills[i] for i in order], [sorted(where[m] for m in g) for g in planted]


def pairs_of(groups: list[list[int]]) -> set[tuple[int, int]]:
    return {(a, b) for g in groups for a, b in combinations(sorted(g), 2)}


def write_tree(root: Path, skills: list[tuple[str, str, str]]) -> dict:
    entries = []
    for i, (name, desc, body) in enumerate(skills):
        d = root / f"s{i:05d}" / name
        d.mkdir(parents=True)
        (d / "SKILL.md").write_text(f"---\nname: {name}\ndescription: {desc}\n---\n{body}")
        entries.append(
            {
                "id": f"sk_{i:05d}",
                "name": name,
                "description": desc,
                "content_hash": "",
                "locations": [{"path": str(d), "agent": "claude-code", "scope": "user", "is_link": False}],
                "files": [],
                "findings": [],
            }
        )
    return {"schema_version": "1.0", "generated_at": "", "roots": [], "skills": entries, "manifests": []}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skills", type=int, default=10_000)
    ap.add_argument("--groups", type=int, default=600)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--disk", action="store_true", help="also time the whole phase over SKILL.md files on disk")
    args = ap.parse_args()

    t0 = time.perf_counter()
    skills, planted = generate(args.skills, args.groups, args.seed)
    t_gen = time.perf_counter() - t0
    items = [Item(i, name, f"{name}\n{desc}\n{body}") for i, (name, desc, body) in enumerate(skills)]
    bodies = [f"{desc}\n{body}" for _, desc, body in skills]

    t1 = time.perf_counter()
    res = find_duplicates(items, bodies)
    wall = time.perf_counter() - t1

    found_groups = [g["members"] for g in res["near"]] + [
        g for g in res["exact"] if not any(set(g) <= set(n["members"]) for n in res["near"])
    ]
    truth, found = pairs_of(planted), pairs_of(found_groups)
    recall = len(truth & found) / len(truth) if truth else 1.0
    precision = len(truth & found) / len(found) if found else 1.0
    exact_groups = sum(1 for g in planted if any(sorted(g) == sorted(f) for f in found_groups))

    print(f"skills            {len(skills):,} ({len(planted)} planted groups, {sum(map(len, planted)):,} members)")
    print(f"generate          {t_gen:.2f} s")
    print(f"duplicates core   {wall:.2f} s  (target ≤ 10 s)  {'OK' if wall <= 10 else 'OVER TARGET'}")
    print(f"found             {len(res['exact'])} exact groups, {len(res['near'])} near groups")
    print(f"pair recall       {recall:.3f}  ({len(truth & found)}/{len(truth)} planted pairs)")
    print(f"pair precision    {precision:.3f}  ({len(truth & found)}/{len(found)} reported pairs)")
    print(f"groups recovered  {exact_groups}/{len(planted)} exactly")

    if args.disk:
        from skill_insights.analyzers import duplicates

        with tempfile.TemporaryDirectory(prefix="bench-dups-") as tmp:
            inv = write_tree(Path(tmp), skills)
            t2 = time.perf_counter()
            out = duplicates.run(inv, {})
            print(
                f"phase from disk   {time.perf_counter() - t2:.2f} s  ({out['summary']['exact_groups']} exact, "
                f"{out['summary']['near_groups']} near groups)"
            )


if __name__ == "__main__":
    main()
