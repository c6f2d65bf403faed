"""The losses' own definitions (the contract every loss meets is in test_registries.py)."""

import torch

from synaug.training.losses import LOSSES, effective_number_weights


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


def test_group_dro_weights_move_toward_the_worst_group():
    loss_fn = LOSSES["group-dro"](num_cells=3, step_size=0.5)
    targets = torch.eye(2)[torch.tensor([0, 0, 1, 1, 0, 1])]
    cells = torch.tensor([0, 0, 1, 1, 2, 2])
    logits = torch.tensor([[3., 0], [3, 0], [0, -1], [1, 0], [1, 0], [0, 1]])  # cell 1 is wrong: high loss
    per = -(targets * torch.log_softmax(logits, 1)).sum(1)
    group_loss = torch.stack([per[cells == g].mean() for g in range(3)])
    q = torch.full((3,), 1 / 3) * torch.exp(0.5 * group_loss)
    q = q / q.sum()
    loss = loss_fn(logits, targets, cells)
    assert torch.allclose(loss_fn.q, q) and torch.allclose(loss, (q * group_loss).sum())
    for _ in range(5):
        loss_fn(logits, targets, cells)
    assert loss_fn.q.argmax() == 1 and loss_fn.q[1] > 0.8
    state = loss_fn.state_dict()
    fresh = LOSSES["group-dro"](num_cells=3)
    fresh.load_state_dict(state)
    assert torch.equal(fresh.q, loss_fn.q)
