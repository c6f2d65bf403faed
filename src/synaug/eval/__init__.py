"""Evaluation: `metrics` (pure NumPy, the field's definitions written out in docs/definitions.md)
and `evaluate` (a trained model on a test split). Nothing is re-exported here, so the metrics
import without the training code."""
