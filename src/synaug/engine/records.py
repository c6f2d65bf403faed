"""A run's record: what every table needs from a finished run, without its checkpoints. Beside
metrics.json (the numbers at training time, the run's facts), RUN/predictions.npz keeps per split
(test, and validation where the data has one) the labels, groups, cells and logits (float16), and
the training data's class counts and cells. Collectors re-score a record through `metrics_of`
(`rescore`), so a metric, threshold or claim added later re-tables every stored run without training
(DomainBed's collect_results reads run folders the same way).

A record is small: ~20 KB for mnist-lt's 1,000 test images, ~200 KB for Fashion-MNIST's 10,000."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from synaug.data.imageset import ImageSet
from synaug.eval.chance import chance_level, near_chance
from synaug.eval.scoring import Scoring, metrics_of
from synaug.fileio import atomic_write_bytes

PREDICTIONS = "predictions.npz"
SPLITS = ("test", "val")


def split_arrays(name: str, images: ImageSet, logits: np.ndarray) -> dict:
    """The arrays of one split in the record: labels, groups (if any), cells, the top-1 predictions (from
    the float32 logits: float16 could break a near tie the other way) and float16 logits."""
    logits = np.asarray(logits)
    out = {f"{name}_labels": images.labels.astype(np.int32), f"{name}_cells": images.cells().astype(np.int32),
           f"{name}_pred": logits.argmax(1).astype(np.int32), f"{name}_logits": logits.astype(np.float16)}
    if images.groups is not None:
        out[f"{name}_groups"] = images.groups.astype(np.int32)
    return out


def write_predictions(run_dir: Path, train: ImageSet, splits: dict[str, tuple[ImageSet, np.ndarray]]) -> Path:
    """RUN/predictions.npz from {split name: (images, logits)} and the ORIGINAL training set (before a
    plan's cuts: Many / Medium / Few are the long tail's), written atomically."""
    import io
    arrays = {"train_counts": np.asarray(train.class_counts(), np.int64), "train_cells": train.cells().astype(np.int32),
              "class_names": np.array([str(c) for c in train.class_names]),
              "cell_names": np.array([str(c) for c in train.cell_names()])}
    if train.group_names is not None:
        arrays["group_names"] = np.array([str(g) for g in train.group_names])
    for name, (images, logits) in splits.items():
        arrays.update(split_arrays(name, images, logits))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    path = Path(run_dir) / PREDICTIONS
    atomic_write_bytes(path, buffer.getvalue())
    return path


def read_predictions(run_dir: Path) -> dict | None:
    """The record's arrays, or None when the run has none (made by an older synaug) or it is unreadable."""
    path = Path(run_dir) / PREDICTIONS
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, KeyError):
        return None


def has_split(record: dict, split: str) -> bool:
    return f"{split}_logits" in record


def scoring_of(record: dict, many: int, few: int, split: str = "test") -> Scoring:
    """The Scoring of a split of the record (what `metrics_of` needs besides the predictions)."""
    groups = record.get(f"{split}_groups")
    names = record.get("group_names")
    return Scoring(record[f"{split}_labels"], groups, record[f"{split}_cells"], len(record["class_names"]),
                   tuple(str(c) for c in record["cell_names"]), None if names is None else tuple(str(g) for g in names),
                   record["train_counts"], record["train_cells"], many, few)


def predictions_of(record: dict, split: str = "test") -> np.ndarray:
    return record[f"{split}_pred"]


def scored(scoring: Scoring, pred: np.ndarray, num_classes: int) -> dict:
    """Every metric of the predictions `pred`, with the test set's chance level and whether they are near it."""
    metrics = metrics_of(scoring, pred)
    metrics["chance"] = chance_level(num_classes, len(pred))
    metrics["at_chance"] = near_chance(metrics["accuracy"], metrics["chance"])
    return metrics


def rescore(stored: dict, record: dict | None, many: int, few: int) -> dict:
    """A run's metrics re-computed from its record with today's metric code and these thresholds, over
    the facts metrics.json keeps (training time, image counts, tuning...); the test predictions under
    "predictions". Without a record (an older run) the stored numbers stand, marked `rescored: false`."""
    if record is None:
        return {**stored, "rescored": False}
    pred = predictions_of(record)
    fresh = scored(scoring_of(record, many, few), pred, len(record["class_names"]))
    return {**stored, **fresh, "predictions": pred, "rescored": True}
