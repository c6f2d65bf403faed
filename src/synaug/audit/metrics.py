"""The audit's measures on feature vectors, each a small function checked in tests against an
independent computation (`tests/test_audit.py`).

- `carve_validation` (from `synaug.data.splits`): a seeded, stratified validation split of the TRAINING data.
- `knn_precision_recall`: improved precision and recall (Kynkaanniemi et al. 2019): each point's
  k-NN radius within its own set defines a manifold (union of balls); precision = share of
  synthetic points inside the real manifold, recall = share of real points inside the synthetic one.
- `near_duplicates`: share of synthetic points whose nearest other synthetic point (duplicate) or
  nearest real point (copy) is much closer than real points are to each other.
- `domain_gap`: cross-validated accuracy of a linear probe telling real from synthetic
  (0.5 = indistinguishable, 1.0 = fully separable), on class-size-balanced subsamples.
- `probe`: a scikit-learn logistic regression on standardised features.
"""

from __future__ import annotations

import numpy as np


CHUNK = 2048  # rows of a distance matrix held at once


def pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances (len(a), len(b)), float64."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(d2, 0.0))


def knn_radii(x: np.ndarray, k: int = 3) -> np.ndarray:
    """Distance from every point to its k-th nearest OTHER point of the same set (inf when the set
    has k points or fewer: there is no k-th neighbour; callers report None then)."""
    from sklearn.neighbors import NearestNeighbors

    x = np.asarray(x, np.float64)
    if len(x) <= k:
        return np.full(len(x), np.inf)
    dist, _ = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
    return dist[:, k]  # column 0 is the point itself


def manifold_ratio(points: np.ndarray, support: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """min over support points s of dist(point, s) / radius(s): <= 1 means inside the support's
    k-NN manifold (some ball contains the point); larger means further off it."""
    if len(support) == 0:
        return np.full(len(points), np.inf)
    out = np.empty(len(points))
    for start in range(0, len(points), CHUNK):  # bounded memory: CHUNK x len(support) distances at a time
        d = pairwise_distances(points[start:start + CHUNK], support)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = d / radii[None, :]
        ratio = np.where(d == 0, 0.0, ratio)  # a point on a support point is inside even for a zero radius
        out[start:start + CHUNK] = ratio.min(1)
    return out


def nearest_distance(points: np.ndarray, others: np.ndarray, same_set: bool = False) -> np.ndarray:
    """Distance from every point to its nearest point of `others` (itself excluded when `same_set`),
    in chunks of CHUNK rows."""
    points, others = np.asarray(points, np.float64), np.asarray(others, np.float64)
    out = np.empty(len(points))
    for start in range(0, len(points), CHUNK):
        d = pairwise_distances(points[start:start + CHUNK], others)
        if same_set:
            rows = np.arange(len(d))
            d[rows, start + rows] = np.inf
        out[start:start + CHUNK] = d.min(1)
    return out


def knn_precision_recall(real: np.ndarray, synthetic: np.ndarray, k: int = 3) -> dict:
    """{"precision", "recall", "ratio" (per synthetic point, see `manifold_ratio`)}; precision or
    recall is None when the set defining the manifold has k points or fewer."""
    real, synthetic = np.asarray(real, np.float64), np.asarray(synthetic, np.float64)
    r_real, r_syn = knn_radii(real, k), knn_radii(synthetic, k)
    ratio = manifold_ratio(synthetic, real, r_real)
    precision = float((ratio <= 1).mean()) if len(real) > k and len(synthetic) else None
    recall = float((manifold_ratio(real, synthetic, r_syn) <= 1).mean()) if len(synthetic) > k and len(real) else None
    return {"precision": precision, "recall": recall, "ratio": ratio}


def near_duplicates(real: np.ndarray, synthetic: np.ndarray, factor: float = 0.1) -> dict:
    """{"duplicate_rate", "copy_rate"}: shares of synthetic points whose nearest other synthetic
    point (duplicate) / nearest real point (copy) lies closer than `factor` x the median distance
    between a real point and its nearest other real point. None where it cannot be measured."""
    real, synthetic = np.asarray(real, np.float64), np.asarray(synthetic, np.float64)
    if len(real) < 2 or len(synthetic) == 0:
        return {"duplicate_rate": None, "copy_rate": None}
    tau = factor * float(np.median(nearest_distance(real, real, same_set=True)))
    copy = float((nearest_distance(synthetic, real) <= tau).mean())
    dup = float((nearest_distance(synthetic, synthetic, same_set=True) <= tau).mean()) if len(synthetic) >= 2 else None
    return {"duplicate_rate": dup, "copy_rate": copy}


def probe(x: np.ndarray, y: np.ndarray, seed: int = 0, class_weight=None, C: float = 1.0, max_iter: int = 200):
    """Logistic regression on standardised features (a scikit-learn Pipeline). An unconverged fit
    after `max_iter` L-BFGS steps is kept quietly: probes rank cells, they are not the model."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter, class_weight=class_weight,
                                                             random_state=seed))
    from threadpoolctl import threadpool_limits

    # one BLAS thread: these fits are small, and threads contending with torch's slow them ~30x
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore", ConvergenceWarning)
        return clf.fit(np.asarray(x, np.float64), np.asarray(y))


def cap_per_stratum(strata: np.ndarray, cap: int, seed: int = 0) -> np.ndarray:
    """Sorted indices keeping at most `cap` samples of every stratum (seeded): bounds probe cost."""
    strata = np.asarray(strata)
    rng = np.random.default_rng([seed, 12])
    keep = [idx if len(idx) <= cap else rng.choice(idx, cap, replace=False)
            for idx in (np.where(strata == s)[0] for s in np.unique(strata))]
    return np.sort(np.concatenate(keep)).astype(np.int64) if keep else np.zeros(0, np.int64)


def domain_gap(real: np.ndarray, synthetic: np.ndarray, seed: int = 0, folds: int = 3,
               max_per_side: int = 300) -> float | None:
    """Cross-validated accuracy of a linear probe real vs synthetic on equal-size subsamples of both
    (so 0.5 is chance); None when either side has fewer than `folds` points."""
    from sklearn.model_selection import StratifiedKFold

    n = min(len(real), len(synthetic), max_per_side)
    if n < folds:
        return None
    rng = np.random.default_rng([seed, 11])
    x = np.concatenate([np.asarray(real)[rng.choice(len(real), n, replace=False)],
                        np.asarray(synthetic)[rng.choice(len(synthetic), n, replace=False)]])
    y = np.r_[np.zeros(n, int), np.ones(n, int)]
    correct = 0
    for tr, te in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y):
        correct += int((probe(x[tr], y[tr], seed).predict(x[te]) == y[te]).sum())
    return correct / len(y)


def recall_and_confusions(true: np.ndarray, pred: np.ndarray, cell: int, top: int = 3) -> tuple[float | None, list]:
    """Recall of `cell` and the cells its samples were mistaken for: [(cell, share), ...] by share."""
    mask = np.asarray(true) == cell
    if not mask.any():
        return None, []
    p = np.asarray(pred)[mask]
    recall = float((p == cell).mean())
    others, counts = np.unique(p[p != cell], return_counts=True)
    order = np.argsort(-counts, kind="stable")[:top]
    return recall, [(int(others[i]), float(counts[i] / mask.sum())) for i in order]


def false_alarm(true: np.ndarray, pred: np.ndarray, cell: int) -> float | None:
    """Share of the OTHER cells' samples predicted as `cell`: what a probe that calls everything `cell`
    also scores as recall, so a recall is only evidence above it."""
    others = np.asarray(true) != cell
    return float((np.asarray(pred)[others] == cell).mean()) if others.any() else None


def own_cell_probability(clf, x: np.ndarray, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(probability the classifier gives each sample's own cell, predicted cell); a cell the
    classifier never saw gets probability 0."""
    proba = clf.predict_proba(np.asarray(x, np.float64))
    classes = list(clf.classes_)
    col = {c: i for i, c in enumerate(classes)}
    own = np.array([proba[i, col[c]] if c in col else 0.0 for i, c in enumerate(np.asarray(cells))])
    pred = np.asarray(classes)[proba.argmax(1)] if len(x) else np.zeros(0, np.int64)
    return own, pred
