"""DFR's last-layer re-fit: synaug.training.dfr."""

import numpy as np

from synaug.training.dfr import fit_dfr, group_balanced


def test_dfr_group_balanced_subsets():
    rng = np.random.default_rng(0)
    groups = np.array([0] * 50 + [1] * 7 + [2] * 13 + [3] * 9)
    for _ in range(5):
        idx = group_balanced(groups, rng)
        assert np.bincount(groups[idx]).tolist() == [7, 7, 7, 7] and len(set(idx)) == 28


def test_dfr_folded_layer_equals_scaler_plus_averaged_logistic_regressions():
    from sklearn.preprocessing import StandardScaler

    from synaug.training.dfr import fit_linear

    rng = np.random.default_rng(1)
    n = 400
    y = rng.integers(0, 2, n)
    place = np.where(rng.random(n) < 0.5, y, 1 - y)
    x = np.c_[y + rng.normal(0, 1, n), 3 * place + rng.normal(0, 0.3, n), rng.normal(0, 1, (n, 3))] * 5 + 2
    g = 2 * y + place
    x_train = x + rng.normal(0, 0.1, x.shape)
    info = fit_dfr(x_train, x, y, g, num_classes=2, seed=3, n_refits=5)
    assert info["C"] in (1.0, 0.7, 0.3, 0.1, 0.07, 0.03, 0.01) and len(info["scores"]) == 7
    assert info["weight"].shape == (2, 5) and np.allclose(info["weight"][0], 0)
    # replay the same draws: StandardScaler on train embeddings, 5 refits on balanced val subsets
    rng2 = np.random.default_rng([3, 9])
    from synaug.training.dfr import tune_c
    c, _ = tune_c(x, y, g, rng2)
    scaler = StandardScaler().fit(x_train)
    coefs, bs = zip(*[fit_linear(c, scaler.transform(x[s]), y[s]) for s in (group_balanced(g, rng2) for _ in range(5))])
    scores = scaler.transform(x) @ np.mean(coefs, 0).T + np.mean(bs, 0)
    folded = x @ info["weight"].T + info["bias"]
    assert np.allclose(folded[:, 1] - folded[:, 0], scores[:, 0])
