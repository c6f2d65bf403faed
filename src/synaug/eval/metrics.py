"""Metrics with the field's definitions, written out with citations in docs/definitions.md.

Long tail: top-1, per-class accuracy, Many / Medium / Few (more than 100 / 20-100 / fewer than 20
training images; mean of per-class test accuracies within each split, as LDAM-DRW's shot_acc),
balanced accuracy (mean per-class recall) and G-mean (geometric mean of per-class recalls, as
imbalanced-learn's geometric_mean_score), confusion matrix. Groups: per-group and worst-group
accuracy, train-weighted mean; fairness gaps DP / EO / ED (fairlearn's definitions).
"""

from __future__ import annotations

import numpy as np

from synaug.constraints import FEW, MANY


def confusion(y_true, y_pred, num_classes: int) -> np.ndarray:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return np.bincount(y_true * num_classes + y_pred, minlength=num_classes**2).reshape(num_classes, num_classes)


def per_class_accuracy(y_true, y_pred, num_classes: int) -> np.ndarray:
    """Recall of every class; NaN for a class absent from y_true."""
    cm = confusion(y_true, y_pred, num_classes)
    support = cm.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(cm) / support, np.nan)


def imbalance_factor(counts) -> float | None:
    """Largest over smallest class count of the training data (None if a class is empty)."""
    counts = [int(c) for c in counts]
    return max(counts) / min(counts) if counts and min(counts) > 0 else None


SHOT_GROUPS = ("many", "medium", "few")  # the long tail's splits, as metric keys (many_medium_few's)


def many_medium_few(train_counts, many: int = MANY, few: int = FEW) -> dict[str, np.ndarray]:
    """Class indices per split: Many (> many), Medium (few..many), Few (< few) training images
    (docs/definitions.md#many-medium-few)."""
    counts = np.asarray(train_counts)
    return dict(zip(SHOT_GROUPS, (np.where(counts > many)[0], np.where((counts <= many) & (counts >= few))[0],
                                  np.where(counts < few)[0])))


def longtail_metrics(y_true, y_pred, train_counts, many: int = MANY, few: int = FEW) -> dict:
    """All long-tail metrics in percent (None where a split has no class)."""
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


# ----------------------------------------------------------------------------- groups
def per_group_accuracy(y_true, y_pred, groups) -> dict[int, float]:
    """{group: accuracy (a fraction)} over the groups present (counted with bincount: the bootstrap
    calls this on every resample)."""
    y_true, y_pred, groups = np.asarray(y_true), np.asarray(y_pred), np.asarray(groups)
    ids, inverse = np.unique(groups, return_inverse=True)
    right = np.bincount(inverse, weights=(y_pred == y_true), minlength=len(ids))
    return {int(g): float(r / n) for g, r, n in zip(ids, right, np.bincount(inverse, minlength=len(ids)))}


def worst_group_accuracy(y_true, y_pred, groups) -> float:
    """The lowest per-group accuracy (a fraction; docs/definitions.md#worst-group)."""
    return min(per_group_accuracy(y_true, y_pred, groups).values())


def group_accuracy(y_true, y_pred, groups, train_groups=None) -> dict:
    """Per-group accuracy, `worst` (min over groups), unweighted `mean`, and `mean_weighted`: the
    per-group test accuracies weighted by the TRAINING group proportions (the "mean accuracy" of
    Waterbirds papers). Percent. Groups absent from the test set are left out."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    acc = {g: 100.0 * a for g, a in per_group_accuracy(y_true, y_pred, groups).items()}
    values = np.fromiter(acc.values(), float, len(acc))
    out = {"per_group": acc, "worst": float(values.min()), "mean": float(values.mean()),
           "accuracy": 100.0 * float((y_true == y_pred).mean())}
    if train_groups is not None:
        ids, counts = np.unique(np.asarray(train_groups), return_counts=True)
        in_train = dict(zip(ids.tolist(), counts.tolist()))
        w = np.array([in_train.get(g, 0) for g in acc], dtype=float)
        out["mean_weighted"] = float(np.dot(w / w.sum(), values)) if w.sum() else None
    return out


def spread(values: np.ndarray) -> float:
    """max - min over the defined (non-nan) values; nan when none is."""
    defined = values[~np.isnan(values)]
    return float(defined.max() - defined.min()) if len(defined) else float("nan")


def ratio(num, den) -> float:
    """num / den as a float; nan where there is nothing to count."""
    return float(num / den) if den else float("nan")


def fairness_gaps(y_true, y_pred, sensitive, agg: str = "worst_case", mode: str = "binary") -> dict:
    """Fairness gaps, lower is fairer (fractions, as fairlearn; accuracy in percent).

    mode="binary" (labels 0/1, the positive class is 1), equal to fairlearn's:
      dp = max_a P(h=1|a) - min_a P(h=1|a)                     (demographic_parity_difference)
      eo = max_a TPR_a - min_a TPR_a                           (equal_opportunity_difference)
      ed = max(TPR gap, FPR gap) or their mean for agg="mean"  (equalized_odds_difference)
    mode="per_class" (any number of classes; Jung et al.): for each class y,
      gap_y = max_a P(h=y|y,a) - min_a P(h=y|y,a); ed = max_y gap_y (worst_case, "_M") or mean ("_A");
      dp likewise over P(h=c|a) per class c; eo is not defined there.
    """
    y_true, y_pred, a = np.asarray(y_true), np.asarray(y_pred), np.asarray(sensitive)
    if agg not in ("worst_case", "mean"):
        raise ValueError(f"agg must be 'worst_case' or 'mean', not {agg!r}")
    groups, group_of = np.unique(a, return_inverse=True)
    out = {"accuracy": 100.0 * float((y_true == y_pred).mean()), "agg": agg, "mode": mode}
    if mode == "binary":
        if not (((y_true == 0) | (y_true == 1)).all() and ((y_pred == 0) | (y_pred == 1)).all()):
            labels = sorted(set(np.unique(y_true).tolist()) | set(np.unique(y_pred).tolist()))
            raise ValueError(f"fairness_gaps(mode='binary') needs labels in {{0, 1}}, got {labels}; "
                             "use mode='per_class' for multi-class tasks")
        # n[g, y, h]: test images of group g with label y predicted h
        n = np.bincount(group_of * 4 + y_true.astype(np.int64) * 2 + y_pred.astype(np.int64),
                        minlength=4 * len(groups)).reshape(-1, 2, 2)
        with np.errstate(invalid="ignore", divide="ignore"):  # a group without positives (negatives): nan
            sel = n[:, :, 1].sum(1) / n.sum((1, 2))
            tpr = n[:, 1, 1] / n[:, 1].sum(1)
            fpr = n[:, 0, 1] / n[:, 0].sum(1)
        tpr_gap, fpr_gap = spread(tpr), spread(fpr)
        out.update(dp=spread(sel), eo=tpr_gap, ed=max(tpr_gap, fpr_gap) if agg == "worst_case" else (tpr_gap + fpr_gap) / 2,
                   tpr=dict(zip(groups.tolist(), tpr.tolist())), fpr=dict(zip(groups.tolist(), fpr.tolist())),
                   selection_rate=dict(zip(groups.tolist(), sel.tolist())))
        return out
    if mode != "per_class":
        raise ValueError(f"mode must be 'binary' or 'per_class', not {mode!r}")
    classes = np.unique(y_true)
    reduce = np.nanmax if agg == "worst_case" else np.nanmean
    acc_gaps = [float(np.nanmax(v) - np.nanmin(v)) for v in
                ([ratio(((y_pred == c) & (a == g) & (y_true == c)).sum(), ((a == g) & (y_true == c)).sum())
                  for g in groups] for c in classes)]
    dp_gaps = [float(np.nanmax(v) - np.nanmin(v)) for v in
               ([ratio(((y_pred == c) & (a == g)).sum(), (a == g).sum()) for g in groups] for c in classes)]
    out.update(dp=float(reduce(dp_gaps)), ed=float(reduce(acc_gaps)), eo=None,
               per_class_gap=dict(zip(classes.tolist(), acc_gaps)))
    return out


def split_summary(counts, class_names, many: int = MANY, few: int = FEW) -> dict:
    """The Many / Medium / Few split of a training set as reports state it: the thresholds, and which
    classes (and how many) fall in each."""
    groups = many_medium_few(counts, many, few)
    return {"many": many, "few": few, "rule": f"Many: more than {many} training images; Medium: {few} to {many}; "
            f"Few: fewer than {few}", "classes": {k: [class_names[i] for i in v] for k, v in groups.items()},
            "counts": {k: int(len(v)) for k, v in groups.items()}}


def split_text(summary: dict) -> str:
    """'Many / Medium / Few: > 100 / 20-100 / < 20 training images: 3 / 3 / 4 classes'."""
    c = summary["counts"]
    return (f"Many / Medium / Few: > {summary['many']} / {summary['few']}-{summary['many']} / < {summary['few']} "
            f"training images: {c['many']} / {c['medium']} / {c['few']} classes")
