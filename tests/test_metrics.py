import numpy as np
import pytest
from imblearn.metrics import geometric_mean_score
from sklearn.metrics import balanced_accuracy_score, confusion_matrix

from synaug.eval.metrics import longtail_metrics


def test_longtail_metrics_against_independent_formulas():
    rng = np.random.default_rng(0)
    K = 10
    train_counts = [400, 239, 143, 86, 51, 30, 18, 11, 6, 4]
    for _ in range(20):
        y = np.repeat(np.arange(K), 30)
        pred = np.where(rng.random(len(y)) < 0.7, y, rng.integers(0, K, len(y)))
        m = longtail_metrics(y, pred, train_counts)
        assert m["accuracy"] == pytest.approx(100 * np.mean(y == pred))
        assert m["balanced_accuracy"] == pytest.approx(100 * balanced_accuracy_score(y, pred))
        assert m["gmean"] == pytest.approx(100 * geometric_mean_score(y, pred, average="multiclass"))
        assert np.array_equal(m["confusion"], confusion_matrix(y, pred, labels=range(K)))
        # Many: > 100 train images (classes 0-2); Medium 20..100 (3-5); Few < 20 (6-9)
        for name, cls in (("many", [0, 1, 2]), ("medium", [3, 4, 5]), ("few", [6, 7, 8, 9])):
            mask = np.isin(y, cls)
            assert m[name] == pytest.approx(100 * np.mean(pred[mask] == y[mask]))


def test_gmean_zero_when_a_class_is_never_recalled():
    y = np.array([0, 0, 1, 1])
    pred = np.array([0, 0, 0, 0])
    m = longtail_metrics(y, pred, [50, 5])
    assert m["gmean"] == 0.0 == geometric_mean_score(y, pred)
    assert m["many"] is None and m["medium"] == 100.0 and m["few"] == 0.0


def test_thresholds_are_configurable():
    y = np.array([0, 1, 2])
    m = longtail_metrics(y, y, [60, 30, 5], many=50, few=10)
    assert m["split_classes"] == {"many": [0], "medium": [1], "few": [2]}
