"""Seeds derived by hashing: stable across processes, platforms and plan order (Python's `hash`
is salted per process; BLAKE2b is not)."""

from __future__ import annotations

import hashlib


def hashed_seed(*parts) -> int:
    """A 32-bit seed from the parts' text forms joined by "|" (e.g. base seed, cell tag, index)."""
    digest = hashlib.blake2b("|".join(str(p) for p in parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % (2**32)


def step_generators(seed: int, step: int, rank: int = 0):
    """A training step's random generators, a function of (seed, step) alone so a resumed run draws
    what an uninterrupted one would: `rng` (batch transforms; the same on every rank; a numpy
    Generator) and `gen` (per-image augmentation, a torch.Generator; each rank augments its own
    slice, so ranks > 0 draw from their own stream). The training loop and the ddpm fit both step by it."""
    import numpy as np
    import torch  # here, not at the top: planning imports this module and must not load torch
    rng = np.random.default_rng([seed, step])
    gen_seed = int(rng.integers(2**62)) if rank == 0 else int(np.random.default_rng([seed, step, rank]).integers(2**62))
    return rng, torch.Generator().manual_seed(gen_seed)
