"""The validation split synaug carves from TRAINING data wherever it makes a choice (the audit's
transfer scores and budgets, the tuning of a method's weight decay or last-layer learning rate): seeded,
stratified, never the test set."""

from __future__ import annotations

import numpy as np


def carve_validation(strata: np.ndarray, fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, validation indices): round(fraction * n) of every stratum held out, at least
    one wherever a stratum has two or more samples, never all of it. Seeded; sorted indices."""
    strata = np.asarray(strata)
    rng = np.random.default_rng([seed, 10])
    train, val = [], []
    for s in np.unique(strata):
        idx = rng.permutation(np.where(strata == s)[0])
        n_val = 0 if len(idx) < 2 else min(len(idx) - 1, max(1, int(round(fraction * len(idx)))))
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    cat = lambda parts: np.sort(np.concatenate(parts)).astype(np.int64) if parts else np.zeros(0, np.int64)  # noqa: E731
    return cat(train), cat(val)
