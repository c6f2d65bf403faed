"""The losses' own definitions (the contract every loss meets is in test_registries.py)."""

import torch

from synaug.train.losses import LOSSES, effective_number_weights


def test_effective_number_weights_and_deferred_reweighting():
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
