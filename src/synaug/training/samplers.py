"""Which samples make each batch. A batch is a pure function of (seed, step), so a resumed run
draws exactly the batches an uninterrupted run would."""

from __future__ import annotations

import numpy as np
from synaug.registry import Registry
from synaug.training.cmo import cmo_sample_weights

SAMPLERS = Registry("sampler")
register_sampler = SAMPLERS.register


class Sampler:
    # indices drawn per training sample: 2 for a sampler whose batch transform consumes two images
    # to make one (CMO); the batch transform declares the same number
    images_per_sample = 1

    def batch(self, step: int) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError


@register_sampler("shuffle")
class ShuffleSampler(Sampler):
    """Epochs of random permutations, batches taken in order across epoch boundaries."""

    def __init__(self, *, n: int, batch_size: int, seed: int):
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self._perms: dict[int, np.ndarray] = {}

    def _perm(self, epoch: int) -> np.ndarray:
        if epoch not in self._perms:
            if len(self._perms) > 4:
                self._perms.clear()
            self._perms[epoch] = np.random.default_rng([self.seed, epoch]).permutation(self.n)
        return self._perms[epoch]

    def batch(self, step: int) -> np.ndarray:
        pos = np.arange(step * self.batch_size, (step + 1) * self.batch_size)
        epochs, offsets = pos // self.n, pos % self.n
        return np.concatenate([self._perm(int(e))[offsets[epochs == e]] for e in np.unique(epochs)])


class ProbabilitySampler(Sampler):
    """Draw with replacement, sample i with probability p[i]; step s draws from the generator seeded by
    (seed, s, *stream), so a sampler with its own `stream` never repeats another's draws."""

    def __init__(self, p: np.ndarray, batch_size: int, seed: int, stream: tuple = ()):
        self.p, self.batch_size, self.seed, self.stream = np.asarray(p, float), batch_size, seed, tuple(stream)

    def batch(self, step: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, step, *self.stream])
        return rng.choice(len(self.p), size=self.batch_size, p=self.p)


class _WeightedSampler(ProbabilitySampler):
    """Each sample with probability proportional to 1 / |its stratum|, so every stratum (class, or
    class x group cell) is equally likely in expectation."""

    def __init__(self, *, strata: np.ndarray, batch_size: int, seed: int):
        w = 1.0 / np.bincount(strata)[strata]
        super().__init__(w / w.sum(), batch_size, seed)


@register_sampler("class-balanced")
class ClassBalancedSampler(_WeightedSampler):
    def __init__(self, *, labels: np.ndarray, batch_size: int, seed: int):
        super().__init__(strata=labels, batch_size=batch_size, seed=seed)


@register_sampler("cell-balanced")
class CellBalancedSampler(_WeightedSampler):
    def __init__(self, *, cells: np.ndarray, batch_size: int, seed: int):
        super().__init__(strata=np.unique(cells, return_inverse=True)[1], batch_size=batch_size, seed=seed)


@register_sampler("cmo")
class CMOSampler(Sampler):
    """CMO's two draws (Park et al. 2022), interleaved as (base, minority) pairs so that any
    contiguous even slice (a rank's share under torchrun) keeps its pairs: position 2i is the
    ordinary batch, exactly the "shuffle" sampler's, position 2i + 1 a draw with replacement with
    per-sample probability proportional to 1 / n_class^weighted_alpha (`cmo_sample_weights`)."""

    images_per_sample = 2

    def __init__(self, *, n: int, labels: np.ndarray, class_counts, batch_size: int, seed: int,
                 weighted_alpha: float = 1.0):
        self.base = ShuffleSampler(n=n, batch_size=batch_size, seed=seed)
        self.p = cmo_sample_weights(labels, class_counts, weighted_alpha)
        self.batch_size, self.seed = batch_size, seed

    def batch(self, step: int) -> np.ndarray:
        minority = np.random.default_rng([self.seed, step, 1]).choice(len(self.p), size=self.batch_size, p=self.p)
        return np.stack([self.base.batch(step), minority], axis=1).reshape(-1)


def balanced_indices(strata: np.ndarray, rng: np.random.Generator, per_stratum: int | None = None) -> np.ndarray:
    """The same number of samples from every stratum (class, or class x group cell), drawn without
    replacement, strata in sorted order: `per_stratum`, capped at (default: equal to) the smallest
    stratum's size."""
    strata = np.asarray(strata)
    values, counts = np.unique(strata, return_counts=True)
    n = int(counts.min()) if per_stratum is None else min(int(per_stratum), int(counts.min()))
    return np.concatenate([rng.choice(np.where(strata == v)[0], n, replace=False) for v in values])


def balanced_subset(labels: np.ndarray, per_class: int | None, seed: int,
                    strata: np.ndarray | None = None) -> np.ndarray:
    """Sorted `balanced_indices` over `strata` (class by default) drawn from the seed's own stream."""
    return np.sort(balanced_indices(labels if strata is None else strata, np.random.default_rng([seed, 2]), per_class))
