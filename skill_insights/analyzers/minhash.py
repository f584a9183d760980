"""MinHash signatures and LSH banding in pure Python, for near-duplicate search.

One hash per shingle, not one per permutation: one-permutation hashing splits the 64-bit hash range into
`num_perm` bins and keeps each bin's minimum, and an empty bin borrows the next filled bin's minimum (rotation
densification), so two signatures agree in a bin with probability close to the sets' Jaccard similarity, as
`num_perm` independent permutations would give, at the cost of hashing each shingle once. Each token is
hashed once (BLAKE2b, so signatures are the same in every process and on every run) and a shingle's hash is
a position-weighted sum of its tokens' hashes.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from functools import cache

NUM_PERM = 128
_EMPTY = 1 << 64


def hash64(data: bytes) -> int:
    """A 64-bit hash of `data`, the same in every process."""
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


# Odd 64-bit multipliers: a shingle's hash weighs each word's hash by its position, so `a b c` and `b a c`
# differ, and two shingles differing in one word differ by a random amount.
_WEIGHTS = (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93)
_MASK64 = (1 << 64) - 1


def shingle_hashes(token_hashes: Sequence[int], k: int) -> set[int]:
    """Hashes of every run of `k` consecutive tokens, from the tokens' own hashes (each token is hashed
    once, not each of the k shingles it is part of); one hash of all tokens when there are fewer than k."""
    if not token_hashes:
        return set()
    if len(token_hashes) < k:
        return {sum(h * w for h, w in zip(token_hashes, _WEIGHTS, strict=False)) & _MASK64}
    if k == 3:  # the duplicates phase's shingles, spelled out: this is most of its time
        w0, w1, w2 = _WEIGHTS[:3]
        return {
            (a * w0 + b * w1 + c * w2) & _MASK64
            for a, b, c in zip(token_hashes, token_hashes[1:], token_hashes[2:], strict=False)
        }
    if k > len(_WEIGHTS):
        raise ValueError(f"shingles of at most {len(_WEIGHTS)} tokens")
    return {
        sum(h * w for h, w in zip(token_hashes[i : i + k], _WEIGHTS, strict=False)) & _MASK64
        for i in range(len(token_hashes) - k + 1)
    }


def signature(hashes: Iterable[int], num_perm: int = NUM_PERM) -> tuple[int, ...]:
    """The MinHash signature of a non-empty set of 64-bit hashes; `num_perm` a power of two."""
    bits = num_perm.bit_length() - 1
    if num_perm < 1 or num_perm != 1 << bits:
        raise ValueError("num_perm must be a power of two")
    mask = num_perm - 1  # the low bits of a hash pick its bin
    mins = [_EMPTY] * num_perm
    for h in hashes:
        b = h & mask
        v = h >> bits
        if v < mins[b]:
            mins[b] = v
    if _EMPTY in mins:
        filled = [i for i, v in enumerate(mins) if v != _EMPTY]
        if not filled:
            raise ValueError("a signature needs at least one hash")
        # An empty bin takes the value of the nearest filled bin to its right, offset by the distance so a
        # borrowed value never equals a bin's own minimum.
        out = list(mins)
        for i in range(num_perm):
            if mins[i] == _EMPTY:
                d = 1
                while mins[(i + d) % num_perm] == _EMPTY:
                    d += 1
                out[i] = mins[(i + d) % num_perm] + d * _EMPTY
        mins = out
    return tuple(mins)


def similarity(a: Sequence[int], b: Sequence[int]) -> float:
    """The estimated Jaccard similarity of two signatures: the fraction of bins that agree."""
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a)


def _integral(f, lo: float, hi: float, steps: int = 64) -> float:
    width = (hi - lo) / steps
    return sum(f(lo + (i + 0.5) * width) for i in range(steps)) * width


@cache
def bands_for(threshold: float, num_perm: int = NUM_PERM) -> tuple[int, int]:
    """(bands, rows per band) that minimise the false positive and false negative probabilities (equally
    weighted) of finding a pair at `threshold`."""
    best, best_error = (1, 1), float("inf")
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            fp = _integral(lambda s, b=b, r=r: 1 - (1 - s**r) ** b, 0.0, threshold)
            fn = _integral(lambda s, b=b, r=r: (1 - s**r) ** b, threshold, 1.0)
            if fp + fn < best_error:
                best, best_error = (b, r), fp + fn
    return best


def candidate_pairs(signatures: Sequence[Sequence[int]], threshold: float) -> set[tuple[int, int]]:
    """Index pairs (i < j) whose signatures agree on at least one whole band."""
    bands, rows = bands_for(threshold, len(signatures[0]) if signatures else NUM_PERM)
    pairs: set[tuple[int, int]] = set()
    for band in range(bands):
        lo = band * rows
        buckets: dict[tuple[int, ...], list[int]] = defaultdict(list)
        for i, sig in enumerate(signatures):
            buckets[tuple(sig[lo : lo + rows])].append(i)
        for members in buckets.values():
            for x in range(len(members)):
                for y in range(x + 1, len(members)):
                    pairs.add((members[x], members[y]))
    return pairs
