"""Weight Balancing (Alshammari et al., CVPR 2022; reference code ShadeAlsha/LTR-weight-balancing,
`utils/regularizers.py` and `demo2_second-stage-training.py`): stage 1 is cross-entropy with a
larger, tuned weight decay; stage 2 re-trains only the classifier with class-balanced loss, weight
decay 0.1 and MaxNorm, a per-class cap on the classifier's weight-row norms kept by projected
gradient descent.

MaxNorm's cap is set once from the stage-1 classifier: min_norm + thresh * (max_norm - min_norm)
over the rows' L2 norms (thresh 0.1 in the reference); after every optimiser step every row
above the cap is scaled back onto it. The bias is a vector, so its cap is infinite (untouched).
"""

from __future__ import annotations

import torch
from torch import nn


class MaxNorm:
    """Per-class weight-norm cap by projection, for one linear layer."""

    def __init__(self, layer: nn.Linear, thresh: float = 0.1):
        norms = layer.weight.detach().norm(dim=1)
        self.layer = layer
        self.cap = float(norms.min() + thresh * (norms.max() - norms.min()))

    @torch.no_grad()
    def project(self) -> None:
        w = self.layer.weight
        norms = w.norm(dim=1, keepdim=True)
        w.mul_(torch.where(norms > self.cap, self.cap / norms, torch.ones_like(norms)))
