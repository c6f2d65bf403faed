"""Seeds derived by hashing: stable across processes, platforms and plan order (Python's `hash`
is salted per process; BLAKE2b is not)."""

from __future__ import annotations

import hashlib


def hashed_seed(*parts) -> int:
    """A 32-bit seed from the parts' text forms joined by "|" (e.g. base seed, cell tag, index)."""
    digest = hashlib.blake2b("|".join(str(p) for p in parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % (2**32)
