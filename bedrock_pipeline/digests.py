"""Bounded-memory record digests for duplicate and train/validation overlap checks.

Records are never kept, only 64-bit digests of their bytes. Up to `exact_cap` digests
go into a dict with their first line (exact answers; ~130 bytes per entry, 1M ~ 130 MB). Past the
cap, new digests go into a fixed-size Bloom filter (a bytearray, 64 MiB by default): memory
stops growing, and a "seen" answer becomes probabilistic (false positives at about 1% near
50M records, never false negatives). A 10 GB continued pre-training file of 1 KB records is
~10M records: its first million are checked exactly, the rest probabilistically, inside a 1 GB
Lambda. Callers report probabilistic hits as warnings, not errors.
"""

from __future__ import annotations


class DigestIndex:
    def __init__(self, exact_cap: int = 1_000_000, bloom_bits: int = 1 << 29, hashes: int = 7):
        self.exact_cap = exact_cap
        self.exact: dict[int, int] = {}  # digest -> first line, for "same as line N" messages
        self._bloom: bytearray | None = None
        self._bloom_bits = bloom_bits
        self._hashes = hashes
        self.bloom_entries = 0

    @property
    def probabilistic(self) -> bool:
        return self._bloom is not None

    def __len__(self) -> int:
        return len(self.exact) + self.bloom_entries

    def add(self, key: int, line: int) -> int | None:
        """Insert; return the first line it was seen on, 0 if new, None if probably seen."""
        exact = self.exact
        first = exact.get(key)
        if first is not None:
            return first
        if len(exact) < self.exact_cap:
            exact[key] = line
            return 0
        return None if self._bloom_add(key) else 0

    def contains(self, key: int) -> int | None:
        """The first line holding `key`; None if probably present (Bloom hit); 0 if absent."""
        first = self.exact.get(key)
        if first is not None:
            return first
        if self._bloom is not None and self._bloom_has(key):
            return None
        return 0

    def _positions(self, key: int) -> list[int]:
        # Double hashing (Kirsch-Mitzenmacher) from the two 32-bit halves of the key, which is
        # already a keyed SipHash: no second hash needed.
        a, b = key & 0xFFFFFFFF, ((key >> 32) & 0xFFFFFFFF) | 1
        m = self._bloom_bits
        return [(a + i * b) % m for i in range(self._hashes)]

    def _bloom_has(self, key: int) -> bool:
        bloom = self._bloom
        assert bloom is not None
        return all(bloom[p >> 3] & (1 << (p & 7)) for p in self._positions(key))

    def _bloom_add(self, key: int) -> bool:
        if self._bloom is None:
            self._bloom = bytearray(self._bloom_bits // 8)
        bloom = self._bloom
        seen = True
        for p in self._positions(key):
            byte, bit = p >> 3, 1 << (p & 7)
            if not bloom[byte] & bit:
                seen = False
                bloom[byte] |= bit
        self.bloom_entries += 1
        return seen


def record_digest(raw: bytes) -> int:
    """64-bit digest of a record's bytes, valid within this process only.

    Python's own bytes hash (SipHash-1-3 under a random per-process key) runs at ~3 GB/s here,
    against ~0.5 GB/s for hashlib.blake2b(digest_size=8): on 8 KB records that is the
    difference between hashing costing 20% and 120% of the json.loads time. Digests never leave
    the process, so a per-process key is all that is needed, and the random key means a
    dataset cannot be crafted to collide. Collision odds for n records: about n^2 / 2^65.
    """
    return hash(raw)
