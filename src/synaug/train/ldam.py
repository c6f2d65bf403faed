"""LDAM-DRW (Cao et al., NeurIPS 2019; reference code kaidic/LDAM-DRW, `losses.py` and
`models/resnet_cifar.py`): a label-distribution-aware margin on a cosine classifier head, with
deferred re-weighting.

- margin of class j: m_j = C / n_j^(1/4), C chosen so that the largest margin is `max_m` (0.5);
- the target logit is lowered by its class margin, then every logit is scaled by s (30), then
  cross-entropy, weighted per class from `drw_start` (80 % of training) by the effective number
  (beta 0.9999), as DRW;
- the head is `NormedLinear`: cosine similarity of the L2-normalised features and class weights,
  so s sets the logits' scale.

Targets are soft rows (Mixup): a row lowers each class's logit by that class's margin times its
target mass, which is the reference's hard-label margin for one-hot rows.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from synaug.train.losses import Loss, effective_number_weights, register_loss, soft_cross_entropy


def ldam_margins(class_counts, max_m: float = 0.5) -> torch.Tensor:
    """m_j proportional to n_j^(-1/4), the largest equal to `max_m`."""
    counts = np.maximum(np.asarray(class_counts, dtype=np.float64), 1)
    m = 1.0 / np.sqrt(np.sqrt(counts))
    return torch.as_tensor(m * (max_m / m.max()), dtype=torch.float32)


class NormedLinear(nn.Module):
    """Cosine classifier of LDAM-DRW's CIFAR ResNet: normalised features times normalised weights.
    The weight is stored (in_features, out_features), initialised as the reference does."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.weight.data.uniform_(-1, 1).renorm_(2, 1, 1e-5).mul_(1e5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=1) @ F.normalize(self.weight, dim=0)


@register_loss("ldam-drw")
class LDAMLoss(Loss):
    def __init__(self, *, class_counts, max_m: float = 0.5, s: float = 30.0, beta: float = 0.9999,
                 drw_start: float = 0.8):
        self.margins = ldam_margins(class_counts, max_m)
        self.s = s
        self.weights = effective_number_weights(class_counts, beta)
        self.drw_start = drw_start
        self.active = drw_start <= 0.0

    def set_progress(self, fraction: float) -> None:
        self.active = fraction >= self.drw_start

    def __call__(self, logits, targets, cells=None):
        targets = targets.float()
        shifted = logits.float() - targets * self.margins.to(logits.device)
        per_sample = soft_cross_entropy(self.s * shifted, targets)
        if not self.active:
            return per_sample.mean()
        w = targets @ self.weights.to(logits.device)
        return (w * per_sample).sum() / w.sum()
