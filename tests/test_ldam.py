"""LDAM-DRW against the reference implementation's formulas (kaidic/LDAM-DRW losses.py)."""

import numpy as np
import torch
import torch.nn.functional as F

from synaug.train.losses import LDAMLoss, effective_number_weights, ldam_margins
from synaug.train.models import NormedLinear, build_model


def reference_ldam(x, target, cls_num_list, max_m=0.5, s=30, weight=None):
    """kaidic/LDAM-DRW LDAMLoss.forward, transcribed."""
    m_list = 1.0 / np.sqrt(np.sqrt(cls_num_list))
    m_list = torch.FloatTensor(m_list * (max_m / np.max(m_list)))
    index = torch.zeros_like(x, dtype=torch.uint8)
    index.scatter_(1, target.data.view(-1, 1), 1)
    batch_m = torch.matmul(m_list[None, :], index.float().transpose(0, 1)).view((-1, 1))
    output = torch.where(index.bool(), x - batch_m, x)
    return F.cross_entropy(s * output, target, weight=weight)


def test_margins_follow_n_to_the_minus_quarter_with_largest_half():
    counts = [500, 100, 20, 5]
    m = ldam_margins(counts).numpy()
    assert np.isclose(m.max(), 0.5) and np.isclose(m[-1], 0.5)
    assert np.allclose(m / m[0], (np.array(counts) / 500.0) ** -0.25, rtol=1e-6)


def test_ldam_and_drw_equal_the_reference_on_hard_labels():
    counts = [500, 100, 20, 5]
    g = torch.Generator().manual_seed(0)
    x = torch.rand(32, 4, generator=g) * 2 - 1  # cosine logits
    y = torch.randint(0, 4, (32,), generator=g)
    loss = LDAMLoss(class_counts=counts)
    assert torch.isclose(loss(x, F.one_hot(y, 4)), reference_ldam(x, y, counts), atol=1e-5)
    loss.set_progress(0.85)  # DRW: per-class weights from the effective number after 80 % of training
    w = effective_number_weights(counts, 0.9999)
    assert torch.isclose(loss(x, F.one_hot(y, 4)), reference_ldam(x, y, counts, weight=w), atol=1e-5)


def test_normed_linear_is_a_scaled_cosine():
    head = NormedLinear(8, 3)
    x = torch.randn(5, 8)
    out = head(x)
    cos = F.cosine_similarity(x[:, :, None], head.weight[None], dim=1)
    assert torch.allclose(out, cos, atol=1e-6) and out.abs().max() <= 1 + 1e-6


def test_a_method_declaring_the_cosine_head_gets_it_as_its_last_layer():
    model = build_model("small-cnn", in_channels=1, num_classes=3, image_size=28, head="cosine")
    assert isinstance(model.classifier, NormedLinear) and model(torch.zeros(2, 1, 28, 28)).abs().max() <= 1
