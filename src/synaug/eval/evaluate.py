"""Evaluation of a trained model on a test split: its predictions and their metrics
(`synaug.eval.scoring.metrics_of`)."""

from __future__ import annotations

from synaug.data.imageset import ImageSet
from synaug.eval.chance import chance_level, near_chance
from synaug.eval.scoring import Scoring, metrics_of
from synaug.train.loop import TensorData, predict


def evaluate_model(trained, test: ImageSet, train_counts, many: int = 100, few: int = 20,
                   batch_size: int = 1024, train_cells=None) -> dict:
    """The model's predictions on `test` and their metrics (`metrics_of`); the predictions are kept
    under "predictions" (the test-image bootstrap resamples them)."""
    data = TensorData.from_imageset(test, trained.device)
    pred = predict(trained.model, data, trained.normalize, batch_size, view=trained.view).argmax(1)
    metrics = metrics_of(Scoring.of(test, train_counts, train_cells, many, few), pred)
    metrics["chance"] = chance_level(test.num_classes, len(test))
    metrics["at_chance"] = near_chance(metrics["accuracy"], metrics["chance"])
    metrics["predictions"] = pred.tolist()
    return metrics
