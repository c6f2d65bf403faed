"""Test-sampling uncertainty, which seeds do not see: the 95 % percentile interval of a metric's mean
over seeds when the test images are resampled with replacement (`scipy.stats.bootstrap`, seeded), and
of a paired difference between two rows (both rows scored on the same resampled images).

Runs are grouped by their test set (`Scoring`): runs on one test set are scored on the same resample,
runs of seeds that drew their own test split on independent resamples of theirs. Every resample
recomputes the metrics with `synaug.eval.scoring.metrics_of`, the function evaluation used, so an
interval is of exactly the number the table shows (1,000 mnist-lt test images give about +-1.9
points on All; 250 images per group about +-3.7 on worst-group)."""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

from synaug.eval.scoring import Scoring, metrics_of

N_RESAMPLES = 1000
LEVEL = 0.95


def values(scoring: Scoring, pred: np.ndarray, idx: np.ndarray, keys) -> np.ndarray:
    """The metrics `keys` of `pred` on test images `idx` (nan where undefined)."""
    m = metrics_of(scoring.subset(idx), pred[idx])
    return np.array([np.nan if m.get(k) is None else m[k] for k in keys], float)


def interval(groups: list, statistic, seed: int, n_resamples: int) -> tuple[np.ndarray, np.ndarray]:
    """scipy's percentile bootstrap of `statistic(*index arrays)`, one index array per test set
    (each resampled on its own)."""
    data = tuple(np.arange(len(s.labels)) for s, _ in groups)
    with warnings.catch_warnings():  # an undefined metric (no Few class) is nan in every resample: its interval is None
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        res = stats.bootstrap(data, lambda *idx: statistic([i.astype(np.int64) for i in idx]), n_resamples=n_resamples,
                              method="percentile", vectorized=False, paired=False, confidence_level=LEVEL,
                              random_state=np.random.default_rng([seed, 17]))
    return np.atleast_1d(res.confidence_interval.low), np.atleast_1d(res.confidence_interval.high)


def as_pairs(low, high, keys) -> dict:
    return {k: None if not (np.isfinite(a) and np.isfinite(b)) else [float(a), float(b)]
            for k, a, b in zip(keys, low, high)}


def resampled_interval(groups: list, keys, seed: int = 0, n_resamples: int = N_RESAMPLES) -> dict:
    """{key: [low, high]} of the mean over all runs of `groups` = [(Scoring, [predictions per run])];
    None where a metric is undefined."""
    keys = list(keys)
    groups = [(s, [np.asarray(p) for p in preds]) for s, preds in groups if preds]
    if not groups:
        return {k: None for k in keys}

    def statistic(idx):
        return np.mean([values(s, p, i, keys) for (s, preds), i in zip(groups, idx) for p in preds], axis=0)

    return as_pairs(*interval(groups, statistic, seed, n_resamples), keys)


def difference_interval(groups: list, key: str, sign: float = 1.0, seed: int = 0,
                        n_resamples: int = N_RESAMPLES) -> list | None:
    """[low, high] of sign * the mean over paired runs of (metric of a - metric of b), with
    `groups` = [(Scoring, [(predictions a, predictions b) per seed])]: both rows on the same images."""
    groups = [(s, [(np.asarray(a), np.asarray(b)) for a, b in pairs]) for s, pairs in groups if pairs]
    if not groups:
        return None

    def statistic(idx):
        return np.array([sign * np.mean([values(s, a, i, [key])[0] - values(s, b, i, [key])[0]
                                         for (s, pairs), i in zip(groups, idx) for a, b in pairs])])

    return as_pairs(*interval(groups, statistic, seed, n_resamples), [key])[key]
