"""MaxNorm of Weight Balancing against the reference's definition (ShadeAlsha/LTR-weight-balancing
MaxNorm_via_PGD, thresh 0.1, L2, tau 1), recomputed here row by row."""

import torch
from torch import nn

from synaug.train.weight_balancing import MaxNorm


def test_maxnorm_caps_rows_at_min_plus_a_tenth_of_the_range():
    torch.manual_seed(0)
    layer = nn.Linear(6, 5)
    with torch.no_grad():
        layer.weight.mul_(torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])[:, None])
    norms = [float(r.norm()) for r in layer.weight]
    cap = min(norms) + 0.1 * (max(norms) - min(norms))
    before = layer.weight.detach().clone()
    bias = layer.bias.detach().clone()
    pgd = MaxNorm(layer, thresh=0.1)
    assert abs(pgd.cap - cap) < 1e-6
    pgd.project()
    for row, old, n in zip(layer.weight, before, norms):
        if n > cap:  # scaled onto the cap, direction kept
            assert abs(float(row.norm()) - cap) < 1e-5 and torch.allclose(row / row.norm(), old / old.norm(), atol=1e-6)
        else:
            assert torch.equal(row, old)
    assert torch.equal(layer.bias, bias)
