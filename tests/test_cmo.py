"""CMO's sampling weights and paste against the reference (naver-ai/cmo), recomputed here."""

import numpy as np
import torch

from synaug.train.cmo import cmo_paste, cmo_sample_weights


def test_minority_weights_are_inverse_class_frequency():
    labels = np.array([0] * 8 + [1] * 2)
    p = cmo_sample_weights(labels, [8, 2], alpha=1.0)
    # each class gets equal total mass: 8 * (1/8) = 2 * (1/2)
    assert np.isclose(p[labels == 0].sum(), 0.5) and np.isclose(p[labels == 1].sum(), 0.5)
    p2 = cmo_sample_weights(labels, [8, 2], alpha=2.0)
    assert np.isclose(p2[labels == 1].sum() / p2[labels == 0].sum(), (2 * 1 / 4) / (8 * 1 / 64))


def test_paste_mixes_labels_by_the_pasted_area():
    x = torch.zeros(4, 1, 10, 10)
    x_minor = torch.ones(4, 1, 10, 10)
    y = torch.eye(3)[[0, 0, 0, 0]]
    y_minor = torch.eye(3)[[2, 2, 2, 2]]
    rng = np.random.default_rng(3)
    for _ in range(20):
        out, soft = cmo_paste(x, y, x_minor, y_minor, rng, prob=1.0)
        area = float(out[0].mean())  # the share of pixels that came from the minority batch
        assert torch.allclose(soft[:, 2], torch.full((4,), area)) and torch.allclose(soft.sum(1), torch.ones(4))
        assert torch.equal(out[0], out[1])  # one box for the whole batch
    same, _ = cmo_paste(x, y, x_minor, y_minor, np.random.default_rng(0), prob=0.0)
    assert same is x
