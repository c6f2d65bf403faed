"""CMO, Context-rich Minority Oversampling (Park et al., CVPR 2022; reference code naver-ai/cmo,
`cifar_train.py` and `imbalance_data/imbalance_cifar.py`): with probability `prob` (0.5), a box of
a minority-weighted batch is pasted onto the ordinary (uniformly drawn) batch, CutMix-style, and
the label is mixed by the pasted area. The minority batch is drawn with replacement, each sample
with probability proportional to its class weight 1 / n_c^alpha (alpha 1). The reference switches
CMO off for the first and last 3 epochs.
"""

from __future__ import annotations

import numpy as np
import torch


def cmo_sample_weights(labels: np.ndarray, class_counts, alpha: float = 1.0) -> np.ndarray:
    """Per-sample probabilities of the minority-weighted draw (they sum to one)."""
    counts = np.maximum(np.asarray(class_counts, dtype=np.float64), 1)
    cls_weight = 1.0 / counts ** alpha
    cls_weight = cls_weight / cls_weight.sum() * len(counts)  # the reference's normalisation
    w = cls_weight[np.asarray(labels)]
    return w / w.sum()


def rand_bbox(H: int, W: int, lam: float, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """The reference's box: side ratio sqrt(1 - lam), centre uniform, clipped to the image
    (rows y1:y2, columns x1:x2)."""
    cut = np.sqrt(1.0 - lam)
    ch, cw = int(H * cut), int(W * cut)
    cy, cx = int(rng.integers(H)), int(rng.integers(W))
    y1, y2 = np.clip(cy - ch // 2, 0, H), np.clip(cy + ch // 2, 0, H)
    x1, x2 = np.clip(cx - cw // 2, 0, W), np.clip(cx + cw // 2, 0, W)
    return int(y1), int(x1), int(y2), int(x2)


def cmo_paste(x: torch.Tensor, y: torch.Tensor, x_minor: torch.Tensor, y_minor: torch.Tensor,
              rng: np.random.Generator, prob: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """(images, soft labels) after CMO: one box, one Beta(1, 1) lambda for the whole batch, as the
    reference; the label weight of the background is 1 - box area / image area."""
    if rng.random() >= prob:
        return x, y
    H, W = x.shape[-2:]
    y1, x1, y2, x2 = rand_bbox(H, W, float(rng.beta(1.0, 1.0)), rng)
    x = x.clone()
    x[..., y1:y2, x1:x2] = x_minor[..., y1:y2, x1:x2]
    lam = 1.0 - (y2 - y1) * (x2 - x1) / (H * W)
    return x, lam * y + (1.0 - lam) * y_minor
