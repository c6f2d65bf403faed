"""Evaluation of a trained model on a test split: every metric that applies to the data."""

from __future__ import annotations

import numpy as np

from synaug.data.imageset import ImageSet
from synaug.eval.chance import chance_level, near_chance
from synaug.eval.metrics import fairness_gaps, group_accuracy, longtail_metrics
from synaug.train.loop import TensorData, predict
from synaug.train.pipeline import TrainedModel


def evaluate_model(trained: TrainedModel, test: ImageSet, train_counts, many: int = 100, few: int = 20,
                   batch_size: int = 1024, train_cells=None) -> dict:
    """Every metric that applies: long-tail metrics always; with groups, per-cell accuracy (worst,
    mean, mean weighted by `train_cells` proportions) and, for a binary label, the fairness gaps
    with the group as the sensitive attribute."""
    data = TensorData.from_imageset(test, trained.device)
    logits = predict(trained.model, data, trained.normalize, batch_size, view=trained.view)
    pred = logits.argmax(1)
    metrics = longtail_metrics(test.labels, pred, train_counts, many, few)
    metrics["chance"] = chance_level(test.num_classes, len(test))
    metrics["at_chance"] = near_chance(metrics["accuracy"], metrics["chance"])
    if test.has_groups:
        metrics.update(group_metrics(test, pred, train_cells))
    metrics["predictions"] = pred.tolist()
    return metrics


def group_metrics(test: ImageSet, pred: np.ndarray, train_cells=None) -> dict:
    cells = group_accuracy(test.labels, pred, test.cells(), train_cells)
    names = test.cell_names()  # indexed by cell id
    out = {"worst_group": cells["worst"], "mean_group": cells["mean"],
           "mean_weighted": cells.get("mean_weighted"),
           "per_cell": {names[c]: a for c, a in cells["per_group"].items()},
           "per_group": {test.group_names[g]: a for g, a in
                         group_accuracy(test.labels, pred, test.groups)["per_group"].items()}}
    if test.num_classes == 2:
        gaps = fairness_gaps(test.labels, pred, test.groups)
        out.update(dp=gaps["dp"], eo=gaps["eo"], ed=gaps["ed"],
                   ed_mean=fairness_gaps(test.labels, pred, test.groups, agg="mean")["ed"])
    return out
