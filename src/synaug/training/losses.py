"""Losses of the baselines (docs/definitions.md#losses-and-samplers-of-the-baselines) on logits and
soft targets (rows sum to one; hard labels are one-hot rows), so every loss works under Mixup/CutMix.
The loop also passes the batch's cells (class, or class x group), which group-aware losses use. The
hooks the loop calls (a schedule's `set_progress`, checkpointed `state_dict`) are declared on `Loss`."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from synaug.registry import Registry

LOSSES = Registry("loss")
register_loss = LOSSES.register


class Loss:
    """A loss on logits and soft targets. The hooks the training loop calls are declared here with
    do-nothing defaults: a loss overrides the ones it needs."""

    def __call__(self, logits: torch.Tensor, targets: torch.Tensor, cells=None) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def set_progress(self, fraction: float) -> None:
        """Called before every step with the fraction of the phase done (schedules such as DRW)."""

    def state_dict(self) -> dict | None:
        """State to checkpoint with the model (None: stateless)."""
        return None

    def load_state_dict(self, state: dict) -> None:
        """Restore what `state_dict` returned."""


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-sample cross-entropy against soft targets."""
    return -(targets * F.log_softmax(logits.float(), dim=1)).sum(dim=1)


@register_loss("ce")
class CrossEntropy(Loss):
    """Cross-entropy of `scale` x logits (1: plain; a cosine head's scores in [-1, 1] need the scale
    its training loss used, LDAM's s = 30, or the softmax over them stays nearly flat)."""

    def __init__(self, scale: float = 1.0):
        self.scale = scale

    def __call__(self, logits, targets, cells=None):
        return soft_cross_entropy(self.scale * logits.float(), targets).mean()


@register_loss("balanced-softmax")
class BalancedSoftmax(Loss):
    """Ren et al. 2020: cross-entropy on logits + log(class prior) of the training set."""

    def __init__(self, *, class_counts):
        counts = torch.as_tensor(class_counts, dtype=torch.float32).clamp_min(1)
        self.log_prior = (counts / counts.sum()).log()

    def __call__(self, logits, targets, cells=None):
        return soft_cross_entropy(logits.float() + self.log_prior.to(logits.device), targets).mean()


def effective_number_weights(class_counts, beta: float = 0.9999) -> torch.Tensor:
    """Class-balanced weights of Cui et al. 2019: w_c = (1 - beta) / (1 - beta^n_c), scaled to sum to C
    (the weights LDAM-DRW's DRW phase uses)."""
    counts = torch.as_tensor(class_counts, dtype=torch.float64).clamp_min(1)
    w = (1 - beta) / (1 - beta ** counts)
    return (w / w.sum() * len(counts)).float()


@register_loss("reweighted-ce")
class ReweightedCE(Loss):
    """Cross-entropy with class-balanced weights (effective number), from the start, or deferred to the
    last part of training (DRW, Cao et al. 2019: plain CE until `drw_start` of the steps, then weighted).
    A sample's weight is its target row's weighted mass, so Mixup rows mix their classes' weights."""

    def __init__(self, *, class_counts, beta: float = 0.9999, drw_start: float = 0.0):
        self.weights = effective_number_weights(class_counts, beta)
        self.drw_start = drw_start
        self.active = drw_start <= 0.0

    def set_progress(self, fraction: float) -> None:
        self.active = fraction >= self.drw_start

    def __call__(self, logits, targets, cells=None):
        per_sample = soft_cross_entropy(logits, targets)
        if not self.active:
            return per_sample.mean()
        w = targets.float() @ self.weights.to(logits.device)
        return (w * per_sample).sum() / w.sum()


@register_loss("drw-ce")
class DeferredReweightedCE(ReweightedCE):
    def __init__(self, *, class_counts, beta: float = 0.9999, drw_start: float = 0.8):
        super().__init__(class_counts=class_counts, beta=beta, drw_start=drw_start)


@register_loss("group-dro")
class GroupDRO(Loss):
    """Sagawa et al. 2020 (online Group DRO): q_g <- q_g * exp(step * loss_g), renormalised;
    loss = sum_g q_g * loss_g over the groups (cells) present in the batch."""

    def __init__(self, *, num_cells: int, step_size: float = 0.01):
        self.step_size = step_size
        self.q = torch.full((num_cells,), 1.0 / num_cells)

    def __call__(self, logits, targets, cells=None):
        if cells is None:
            raise ValueError("Group DRO needs the batch's cells (groups)")
        per_sample = soft_cross_entropy(logits, targets)
        n = len(self.q)
        counts = torch.bincount(cells, minlength=n).float()
        group_loss = torch.zeros(n, device=logits.device).index_add(0, cells, per_sample) / counts.clamp_min(1)
        q = self.q.to(logits.device) * torch.exp(self.step_size * group_loss.detach())
        self.q = (q / q.sum()).detach().cpu()
        return (self.q.to(logits.device) * group_loss).sum()

    def state_dict(self) -> dict:
        return {"q": self.q.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.q = state["q"].clone()


def ldam_margins(class_counts, max_m: float = 0.5) -> torch.Tensor:
    """LDAM's margin of class j, m_j proportional to n_j^(-1/4), the largest equal to `max_m`
    (Cao et al. 2019; kaidic/LDAM-DRW losses.py)."""
    counts = np.maximum(np.asarray(class_counts, dtype=np.float64), 1)
    m = 1.0 / np.sqrt(np.sqrt(counts))
    return torch.as_tensor(m * (max_m / m.max()), dtype=torch.float32)


@register_loss("ldam-drw")
class LDAMLoss(ReweightedCE):
    """LDAM-DRW (docs/definitions.md): the target logit lowered by its class margin, every logit
    scaled by s (30, for the cosine head methods declare with it), then DRW's cross-entropy:
    per-class effective-number weights (beta 0.9999) from `drw_start` (80 %) of training.

    A soft target row (Mixup, CMO) is the expectation of hard-label LDAM terms: each class the row
    puts mass on contributes the loss with ITS margin, weighted by that mass, as the CMO reference's
    lam * L(x, y_a) + (1 - lam) * L(x, y_b); exactly that before DRW. With DRW the terms' class
    weights share one normaliser (the reference normalises each of its two terms separately)."""

    def __init__(self, *, class_counts, max_m: float = 0.5, s: float = 30.0, beta: float = 0.9999,
                 drw_start: float = 0.8):
        super().__init__(class_counts=class_counts, beta=beta, drw_start=drw_start)
        self.margins = ldam_margins(class_counts, max_m)
        self.s = s

    def __call__(self, logits, targets, cells=None):
        x, targets = logits.float(), targets.float()
        k = int((targets > 0).sum(1).max())               # classes per row: 1, or 2 under mixing
        mass, cls = targets.topk(k, dim=1)
        margins, weights = self.margins.to(x.device), self.weights.to(x.device)
        terms = torch.stack([F.cross_entropy(self.s * (x - F.one_hot(c, x.shape[1]) * margins[c, None]), c,
                                             reduction="none") for c in cls.T], dim=1)
        if not self.active:
            return (mass * terms).sum() / len(x)
        w = mass * weights[cls]
        return (w * terms).sum() / w.sum()
