"""Metrics with the field's definitions (see shared REFERENCE.md).

Long tail: top-1, per-class accuracy, Many / Medium / Few (more than 100 / 20-100 / fewer than 20
training images; mean of per-class test accuracies within each split, as LDAM-DRW's shot_acc),
balanced accuracy (mean per-class recall) and G-mean (geometric mean of per-class recalls, as
imbalanced-learn's geometric_mean_score), confusion matrix.
"""

from __future__ import annotations

import numpy as np


def confusion(y_true, y_pred, num_classes: int) -> np.ndarray:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return np.bincount(y_true * num_classes + y_pred, minlength=num_classes**2).reshape(num_classes, num_classes)


def per_class_accuracy(y_true, y_pred, num_classes: int) -> np.ndarray:
    """Recall of every class; NaN for a class absent from y_true."""
    cm = confusion(y_true, y_pred, num_classes)
    support = cm.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(cm) / support, np.nan)


def longtail_metrics(y_true, y_pred, train_counts, many: int = 100, few: int = 20) -> dict:
    """All long-tail metrics in percent (None where a split has no class)."""
    from synaug.data.longtail import many_medium_few

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    K = len(train_counts)
    acc = per_class_accuracy(y_true, y_pred, K)
    present = ~np.isnan(acc)
    splits = many_medium_few(train_counts, many, few)
    recalls = acc[present]
    out = {
        "accuracy": 100.0 * float((y_true == y_pred).mean()),
        "balanced_accuracy": 100.0 * float(recalls.mean()),
        "gmean": 100.0 * float(np.exp(np.log(np.clip(recalls, 1e-300, None)).mean())) if (recalls > 0).all() else 0.0,
        "per_class": [None if np.isnan(a) else 100.0 * float(a) for a in acc],
        "confusion": confusion(y_true, y_pred, K).tolist(),
        "thresholds": {"many": f"> {many}", "medium": f"{few}-{many}", "few": f"< {few}"},
        "split_classes": {k: v.tolist() for k, v in splits.items()},
    }
    for name, classes in splits.items():
        vals = acc[classes][present[classes]]
        out[name] = 100.0 * float(vals.mean()) if len(vals) else None
    return out
