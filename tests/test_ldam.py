"""LDAM-DRW against the reference implementation's formulas (kaidic/LDAM-DRW losses.py)."""

import numpy as np
import torch
import torch.nn.functional as F

from synaug.training.losses import LDAMLoss, effective_number_weights, ldam_margins
from synaug.training.models import NormedLinear, build_model


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


def test_mixed_targets_are_the_cmo_references_two_term_loss():
    """CMO with LDAM-DRW (naver-ai/cmo train.py): loss = lam * L(x, y_a) + (1 - lam) * L(x, y_b), each
    a hard-label LDAM loss with its own margin; a row whose two labels agree is one term."""
    torch.manual_seed(0)
    counts = [500, 120, 40, 9, 3]
    x = torch.randn(16, 5)
    ya, yb = torch.randint(0, 5, (16,)), torch.randint(0, 5, (16,))
    yb[:3] = ya[:3]
    lam = 0.3
    soft = lam * F.one_hot(ya, 5).float() + (1 - lam) * F.one_hot(yb, 5).float()
    loss = LDAMLoss(class_counts=counts)  # before DRW starts: unweighted, as the reference's first phase
    expected = lam * reference_ldam(x, ya, counts) + (1 - lam) * reference_ldam(x, yb, counts)
    assert torch.allclose(loss(x, soft), expected, atol=1e-5)
    one_hot = LDAMLoss(class_counts=counts, drw_start=0.0)  # DRW on: one-hot rows are the weighted reference
    w = effective_number_weights(counts)
    assert torch.allclose(one_hot(x, F.one_hot(ya, 5).float()), reference_ldam(x, ya, counts, weight=w), atol=1e-5)


def test_last_layer_fine_tuning_of_a_cosine_head_uses_its_scale(monkeypatch):
    """Stage 2 of synaug+ldam-drw fine-tunes the cosine head with cross-entropy at LDAM's s = 30,
    the scale stage 1 trained it at (plain cross-entropy on cosines in [-1, 1] is nearly flat)."""
    from synaug.training import stage2
    from synaug.training.losses import CrossEntropy

    x, y = torch.randn(6, 4), torch.randint(0, 4, (6,))
    assert torch.allclose(CrossEntropy(scale=30.0)(x, F.one_hot(y, 4).float()), F.cross_entropy(30 * x, y))
    seen = []
    monkeypatch.setattr(stage2, "fit_last_layer", lambda s, subset, loss_fn, **kw: seen.append(loss_fn.scale))
    for head, scale in (("cosine", 30.0), ("linear", 1.0)):
        model = build_model("small-cnn", in_channels=1, num_classes=4, image_size=28, head=head)
        labels = np.repeat(np.arange(4), 3)

        class Tuning:
            def cells(self):
                return labels

            def subset(self, idx):
                return idx
        Tuning.labels = labels
        s = type("S", (), dict(cfg=type("C", (), dict(stage2_per_class=None, stage2_balance="subset", seed=0))(), model=model,
                               tuning=Tuning(), resume=False, run_dir=None))()
        stage2._train_last_layer(s, reinit=False)
        assert seen[-1] == scale
