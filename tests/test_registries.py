"""One set of API tests run over every registered sampler and loss (the imbalanced-learn pattern)."""

import numpy as np
import pytest
import torch

from synaug.errors import SynaugError
from synaug.train.losses import LOSSES
from synaug.train.models import build_model
from synaug.train.samplers import SAMPLERS

LABELS = np.array([0] * 40 + [1] * 8 + [2] * 2)
CELLS = LABELS * 2 + (np.arange(50) % 2)


def make_sampler(name, seed=0, batch_size=16):
    return SAMPLERS[name](n=len(LABELS), labels=LABELS, cells=CELLS, batch_size=batch_size, seed=seed)


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_every_sampler_gives_in_range_batches_that_depend_only_on_seed_and_step(name):
    a, b = make_sampler(name), make_sampler(name)
    for step in (0, 1, 7, 123):
        batch = a.batch(step)
        assert batch.shape == (16,) and batch.min() >= 0 and batch.max() < len(LABELS)
        assert np.array_equal(batch, b.batch(step))  # a resumed run draws the same batches
    assert np.array_equal(a.batch(3), a.batch(3))
    assert not np.array_equal(make_sampler(name, seed=1).batch(3), a.batch(3))


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_loss_is_a_finite_differentiable_scalar_on_soft_targets(name):
    torch.manual_seed(0)
    logits = torch.randn(12, 3, requires_grad=True)
    lam = 0.3
    hard = torch.eye(3)[torch.arange(12) % 3]
    soft = lam * hard + (1 - lam) * hard.roll(1, 0)  # a Mixup batch
    cells = torch.arange(12) % 6
    loss_fn = LOSSES[name](class_counts=[40, 8, 2], num_cells=6)
    loss = loss_fn(logits, soft, cells=cells)
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


def test_unknown_registry_names_are_clear_user_errors():
    with pytest.raises(SynaugError, match="unknown sampler 'nope'.*class-balanced"):
        SAMPLERS["nope"]
    with pytest.raises(KeyError, match="unknown model 'vit'"):  # still a KeyError for code
        build_model("vit", in_channels=1, num_classes=2)


def test_effective_number_weights_and_deferred_reweighting():
    from synaug.train.losses import effective_number_weights

    counts = [400, 40, 4]
    beta = 0.9999
    raw = [(1 - beta) / (1 - beta ** n) for n in counts]
    expected = torch.tensor(raw) / sum(raw) * 3
    assert torch.allclose(effective_number_weights(counts, beta), expected.float())
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, -1.0]])
    targets = torch.eye(3)
    per = -(targets * torch.log_softmax(logits, 1)).sum(1)
    drw = LOSSES["drw-ce"](class_counts=counts)
    drw.set_progress(0.5)
    assert torch.allclose(drw(logits, targets), per.mean())  # before 80 %: plain CE
    drw.set_progress(0.85)
    w = expected.float()
    assert torch.allclose(drw(logits, targets), (w * per).sum() / w.sum())
