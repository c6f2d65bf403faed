"""DFR (Kirichenko et al., "Last Layer Re-Training is Sufficient for Robustness to Spurious
Correlations"), validation variant, as its public code does it:

1. embeddings of the trained model (penultimate layer, no augmentation);
2. tune C on half of the validation split: fit on a group-balanced subset of one half (every group
   subsampled to the smallest), StandardScaler, L1 logistic regression (liblinear), score by
   worst-group accuracy on the other half;
3. final model: StandardScaler fit on the training embeddings; 20 fits on fresh group-balanced
   subsets of the whole validation split; coefficients and intercepts averaged.

The averaged linear model (scaler folded in) replaces the network's last layer, so the result is an
ordinary Classifier that evaluates and checkpoints like every other model.
"""

from __future__ import annotations

import numpy as np
import torch

from synaug.eval.metrics import worst_group_accuracy
from synaug.training.samplers import balanced_indices

C_GRID = (1.0, 0.7, 0.3, 0.1, 0.07, 0.03, 0.01)


def l1_logistic(C: float):
    """L1-penalised logistic regression with liblinear, across scikit-learn versions (>= 1.8
    deprecates `penalty` for `l1_ratio`)."""
    import sklearn
    from sklearn.linear_model import LogisticRegression

    major, minor = (int(x) for x in sklearn.__version__.split(".")[:2])
    # liblinear shuffles coordinates with random_state: fix it, or DFR is not reproducible
    if (major, minor) >= (1, 8):
        return LogisticRegression(l1_ratio=1.0, C=C, solver="liblinear", random_state=0)
    return LogisticRegression(penalty="l1", C=C, solver="liblinear", random_state=0)


def fit_linear(c: float, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(coef, intercept) of an L1 logistic regression; one-vs-rest for more than two classes
    (liblinear is binary-only in recent scikit-learn, and DFR's public code is binary)."""
    classes = np.unique(y)
    if len(classes) <= 2:
        lr = l1_logistic(c).fit(x, y)
        return lr.coef_, lr.intercept_
    fits = [l1_logistic(c).fit(x, (y == k).astype(int)) for k in classes]
    return np.vstack([f.coef_ for f in fits]), np.concatenate([f.intercept_ for f in fits])


def linear_predict(coef: np.ndarray, intercept: np.ndarray, x: np.ndarray) -> np.ndarray:
    scores = x @ coef.T + intercept
    return (scores[:, 0] > 0).astype(int) if coef.shape[0] == 1 else scores.argmax(1)


def group_balanced(groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices with every group subsampled (without replacement) to the smallest group's size."""
    return balanced_indices(groups, rng)


def tune_c(x_val, y_val, g_val, rng, c_grid=C_GRID) -> tuple[float, dict]:
    from sklearn.preprocessing import StandardScaler

    order = rng.permutation(len(x_val))
    half = len(order) // 2
    fit_idx, eval_idx = order[:half], order[half:]
    sub = fit_idx[group_balanced(g_val[fit_idx], rng)]
    scaler = StandardScaler().fit(x_val[sub])
    scores = {}
    for c in c_grid:
        coef, intercept = fit_linear(c, scaler.transform(x_val[sub]), y_val[sub])
        pred = linear_predict(coef, intercept, scaler.transform(x_val[eval_idx]))
        scores[c] = worst_group_accuracy(y_val[eval_idx], pred, g_val[eval_idx])
    best = max(c_grid, key=lambda c: scores[c])  # first of the best, in grid order
    return best, scores


def fit_dfr(x_train, x_val, y_val, g_val, num_classes: int, seed: int = 0, n_refits: int = 20,
            c_grid=C_GRID) -> dict:
    """Returns {"weight" (K, D), "bias" (K,), "C", "scores"}: a linear layer on raw embeddings."""
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng([seed, 9])
    c, scores = tune_c(x_val, y_val, g_val, rng, c_grid)
    scaler = StandardScaler().fit(x_train)
    coefs, intercepts = [], []
    for _ in range(n_refits):
        sub = group_balanced(g_val, rng)
        coef, intercept = fit_linear(c, scaler.transform(x_val[sub]), y_val[sub])
        coefs.append(coef)
        intercepts.append(intercept)
    coef, intercept = np.mean(coefs, axis=0), np.mean(intercepts, axis=0)
    # fold the scaler in: w.(x - mu)/s + b = (w/s).x + (b - w.mu/s)
    w = coef / scaler.scale_
    b = intercept - (coef * scaler.mean_ / scaler.scale_).sum(axis=1)
    if num_classes == 2 and w.shape[0] == 1:  # binary LR scores class 1 against class 0
        w, b = np.vstack([np.zeros_like(w), w]), np.concatenate([[0.0], b])
    return {"weight": w, "bias": b, "C": c, "scores": scores}


def apply_linear(classifier: torch.nn.Linear, weight: np.ndarray, bias: np.ndarray) -> None:
    with torch.no_grad():
        classifier.weight.copy_(torch.as_tensor(weight, dtype=classifier.weight.dtype))
        classifier.bias.copy_(torch.as_tensor(bias, dtype=classifier.bias.dtype))
