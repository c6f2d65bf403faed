"""Every metric that applies to a test split, as one function of the predictions (`metrics_of`):
evaluation calls it once, the test-image bootstrap (`synaug.eval.bootstrap`) again on resampled
test images."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synaug.constraints import FEW, MANY
from synaug.data.imageset import ImageSet
from synaug.eval.metrics import fairness_gaps, group_accuracy, longtail_metrics


@dataclass(frozen=True)
class Scoring:
    """What the metrics of a test split need besides the predictions: its labels and groups, and the
    training data's class counts (Many / Medium / Few) and cells (the train-weighted mean)."""

    labels: np.ndarray
    groups: np.ndarray | None
    cells: np.ndarray
    num_classes: int
    cell_names: tuple
    group_names: tuple | None
    train_counts: np.ndarray
    train_cells: np.ndarray | None
    many: int = MANY
    few: int = FEW

    @classmethod
    def of(cls, test: ImageSet, train_counts, train_cells=None, many: int = MANY, few: int = FEW) -> Scoring:
        return cls(test.labels, test.groups, test.cells(), test.num_classes, tuple(test.cell_names()),
                   None if test.group_names is None else tuple(test.group_names), np.asarray(train_counts),
                   None if train_cells is None else np.asarray(train_cells), many, few)

    def subset(self, idx: np.ndarray) -> Scoring:
        """The same scoring on test images `idx` (a bootstrap resample)."""
        pick = lambda a: None if a is None else a[idx]  # noqa: E731
        return Scoring(self.labels[idx], pick(self.groups), self.cells[idx], self.num_classes, self.cell_names,
                       self.group_names, self.train_counts, self.train_cells, self.many, self.few)


def metrics_of(s: Scoring, pred: np.ndarray) -> dict:
    """Every metric that applies: long-tail metrics always; with groups, per-cell accuracy (worst,
    mean, mean weighted by the training cell proportions) and, for a binary label, the fairness gaps
    with the group as the sensitive attribute."""
    metrics = longtail_metrics(s.labels, pred, s.train_counts, s.many, s.few)
    if s.groups is not None:
        metrics.update(group_metrics(s, pred))
    return metrics


def group_metrics(s: Scoring, pred: np.ndarray) -> dict:
    cells = group_accuracy(s.labels, pred, s.cells, s.train_cells)
    out = {"worst_group": cells["worst"], "mean_group": cells["mean"], "mean_weighted": cells.get("mean_weighted"),
           "per_cell": {s.cell_names[c]: a for c, a in cells["per_group"].items()},
           "per_group": {s.group_names[g]: a for g, a in group_accuracy(s.labels, pred, s.groups)["per_group"].items()}}
    if s.num_classes == 2:
        gaps = fairness_gaps(s.labels, pred, s.groups)
        out.update(dp=gaps["dp"], eo=gaps["eo"], ed=gaps["ed"],
                   ed_mean=fairness_gaps(s.labels, pred, s.groups, agg="mean")["ed"])
    return out
