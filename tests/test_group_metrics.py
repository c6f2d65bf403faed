import numpy as np
import pytest
from fairlearn.metrics import (demographic_parity_difference, equal_opportunity_difference,
                               equalized_odds_difference)

from synaug.eval.metrics import fairness_gaps, group_accuracy


@pytest.mark.parametrize("agg", ["worst_case", "mean"])
def test_fairness_gaps_equal_fairlearn_on_random_binary_inputs(agg):
    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(40, 400))
        a = rng.integers(0, int(rng.integers(2, 5)), n)
        y = rng.integers(0, 2, n)
        h = np.where(rng.random(n) < rng.uniform(0.5, 0.95), y, 1 - y)
        h = np.where((a == 0) & (rng.random(n) < 0.2), 1, h)  # a group-dependent bias
        ours = fairness_gaps(y, h, a, agg=agg)
        assert ours["dp"] == pytest.approx(demographic_parity_difference(y, h, sensitive_features=a))
        assert ours["eo"] == pytest.approx(equal_opportunity_difference(y, h, sensitive_features=a))
        assert ours["ed"] == pytest.approx(equalized_odds_difference(y, h, sensitive_features=a, agg=agg))
        assert ours["accuracy"] == pytest.approx(100 * np.mean(y == h))


def test_per_class_mode_matches_jung_definition_and_binary_equals_fairlearn_ed():
    rng = np.random.default_rng(1)
    y, a = rng.integers(0, 2, 300), rng.integers(0, 3, 300)
    h = np.where(rng.random(300) < 0.8, y, 1 - y)
    per = fairness_gaps(y, h, a, mode="per_class")
    # for a binary label, max over y of the per-class accuracy gap = equalized odds (worst case)
    assert per["ed"] == pytest.approx(equalized_odds_difference(y, h, sensitive_features=a))
    y3, h3 = rng.integers(0, 3, 300), rng.integers(0, 3, 300)
    got = fairness_gaps(y3, h3, a, mode="per_class", agg="mean")
    gaps = []
    for c in range(3):
        accs = [np.mean(h3[(a == g) & (y3 == c)] == c) for g in range(3)]
        gaps.append(max(accs) - min(accs))
    assert got["ed"] == pytest.approx(np.mean(gaps))


def test_multiclass_labels_in_binary_mode_are_an_error():
    with pytest.raises(ValueError, match="per_class"):
        fairness_gaps([0, 1, 2], [0, 1, 2], [0, 0, 1])


def test_group_accuracy_worst_mean_and_train_weighted_mean():
    y = np.array([1, 1, 0, 0, 1, 0, 1, 1])
    h = np.array([1, 0, 0, 0, 1, 1, 1, 1])
    g = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    train_groups = np.array([0] * 6 + [1] * 2 + [2] * 1 + [3] * 1)
    m = group_accuracy(y, h, g, train_groups)
    assert m["per_group"] == {0: 50.0, 1: 100.0, 2: 50.0, 3: 100.0}
    assert m["worst"] == 50.0 and m["mean"] == 75.0 and m["accuracy"] == 75.0
    assert m["mean_weighted"] == pytest.approx(0.6 * 50 + 0.2 * 100 + 0.1 * 50 + 0.1 * 100)
