"""Long-tailed subsets, exactly as LDAM-DRW's `imbalance_cifar.py` builds CIFAR-LT
(docs/definitions.md#long-tail-profile).

Class c of C keeps int(n_max * imb_factor ** (c / (C - 1))) images, imb_factor = 1 / IF, classes in
their natural index order. Selection: one RandomState(seed) (LDAM uses np.random.seed(0)); for each
class in order, shuffle that class's indices and keep the first n.
"""

from __future__ import annotations

import numpy as np

from synaug.errors import DatasetError


def longtail_counts(n_max: int, num_classes: int, imbalance: float) -> list[int]:
    """Images kept per class for imbalance factor IF (= n_max / n_min); IF=1 keeps n_max each."""
    if imbalance < 1:
        raise ValueError(f"imbalance factor must be >= 1, got {imbalance}")
    imb_factor = 1.0 / imbalance
    if num_classes == 1:
        return [int(n_max)]
    counts = [int(n_max * imb_factor ** (c / (num_classes - 1))) for c in range(num_classes)]
    empty = [c for c, n in enumerate(counts) if n == 0]
    if empty:  # a class with no training image is no long tail: say so instead of training without it
        raise DatasetError(f"--imbalance {imbalance:g} leaves {len(empty)} of {num_classes} classes ({empty}) with no "
                           f"training image (the largest class keeps {n_max}): the imbalance factor can be at most "
                           f"{n_max}")
    return counts


def longtail_indices(labels: np.ndarray, imbalance: float, n_max: int | None = None,
                     seed: int = 0) -> np.ndarray:
    """Indices of the long-tailed subset of `labels` (LDAM-DRW rule), in class order."""
    labels = np.asarray(labels)
    num_classes = int(labels.max()) + 1
    if n_max is None:
        n_max = len(labels) // num_classes  # LDAM: img_max = len(data) / cls_num
    counts = longtail_counts(n_max, num_classes, imbalance)
    rng = np.random.RandomState(seed)
    keep = []
    for c, n in enumerate(counts):
        idx = np.where(labels == c)[0]
        if len(idx) < n:
            raise ValueError(f"class {c} has {len(idx)} images, fewer than the {n} asked for")
        rng.shuffle(idx)
        keep.append(idx[:n])
    return np.concatenate(keep)
