"""Running a trained model on a split: its logits, and the metrics of its predictions
(`synaug.eval.scoring.metrics_of`, pure functions of labels, groups and predictions). This is the
engine's part of evaluation, the only part that runs a network; `synaug.eval` never does."""

from __future__ import annotations

import numpy as np

from synaug.data.imageset import ImageSet
from synaug.engine.records import scored
from synaug.eval.scoring import Scoring
from synaug.training.loop import TensorData, predict


def logits_of(trained, images: ImageSet, batch_size: int = 1024) -> np.ndarray:
    """The model's logits for every image of `images`, in order (its evaluation view, no augmentation)."""
    data = TensorData.from_imageset(images, trained.device)
    return predict(trained.model, data, trained.normalize, batch_size, view=trained.view)


def evaluate_model(trained, test: ImageSet, train_counts, many: int = 100, few: int = 20,
                   batch_size: int = 1024, train_cells=None) -> dict:
    """The model's predictions on `test` and their metrics (`metrics_of`); the predictions are kept
    under "predictions" (the test-image bootstrap resamples them)."""
    return metrics_from_logits(logits_of(trained, test, batch_size), test, train_counts, many, few, train_cells)


def metrics_from_logits(logits: np.ndarray, test: ImageSet, train_counts, many: int = 100, few: int = 20,
                        train_cells=None) -> dict:
    pred = np.asarray(logits).argmax(1)
    metrics = scored(Scoring.of(test, train_counts, train_cells, many, few), pred, test.num_classes)
    metrics["predictions"] = pred.tolist()
    return metrics
