"""Losses on logits and soft targets (rows sum to one; hard labels are one-hot rows), so every
loss works under Mixup/CutMix. Baselines add entries here (Balanced Softmax, LDAM, ...)."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

LOSSES: dict[str, Callable[..., "Loss"]] = {}


def register_loss(name: str):
    def wrap(cls):
        LOSSES[name] = cls
        return cls
    return wrap


class Loss:
    def __call__(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError


@register_loss("ce")
class CrossEntropy(Loss):
    def __init__(self, **_):
        pass

    def __call__(self, logits, targets):
        return -(targets * F.log_softmax(logits.float(), dim=1)).sum(dim=1).mean()


@register_loss("balanced-softmax")
class BalancedSoftmax(Loss):
    """Ren et al. 2020: cross-entropy on logits + log(class prior) of the training set."""

    def __init__(self, *, class_counts, **_):
        counts = torch.as_tensor(class_counts, dtype=torch.float32).clamp_min(1)
        self.log_prior = (counts / counts.sum()).log()

    def __call__(self, logits, targets):
        adjusted = logits.float() + self.log_prior.to(logits.device)
        return -(targets * F.log_softmax(adjusted, dim=1)).sum(dim=1).mean()
