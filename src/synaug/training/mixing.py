"""Batch transforms that mix samples and their (soft) labels: none, Mixup, CutMix, CMO.

Pairing chooses each sample's partner: "random" (a permutation of the batch, as Zhang et al.)
or "domain" (SYNAuG's domain Mixup: every real sample is mixed with a synthetic one and every
synthetic with a real one; a batch with only one domain falls back to random). Randomness comes
from the generator passed in, never from global state, so runs and resumed runs repeat exactly.
"""

from __future__ import annotations

import numpy as np
import torch
from synaug.registry import Registry
from synaug.training.batches import to_device
from synaug.training.cmo import cmo_paste

BATCH_TRANSFORMS = Registry("batch transform")
register_transform = BATCH_TRANSFORMS.register


def partners(synthetic: torch.Tensor, pairing: str, rng: np.random.Generator) -> torch.Tensor:
    """Index of each sample's mixing partner."""
    B = len(synthetic)
    syn = synthetic.cpu().numpy().astype(bool)
    if pairing == "domain" and syn.any() and (~syn).any():
        real_idx, syn_idx = np.where(~syn)[0], np.where(syn)[0]
        out = np.empty(B, dtype=np.int64)
        out[~syn] = rng.choice(syn_idx, size=len(real_idx))
        out[syn] = rng.choice(real_idx, size=len(syn_idx))
        return torch.from_numpy(out)
    if pairing not in ("random", "domain"):
        raise ValueError(f"unknown pairing {pairing!r}; use 'random' or 'domain'")
    return torch.from_numpy(rng.permutation(B))


class BatchTransform:
    # images consumed per output sample: the sampler of a method declares the same number (CMO: 2)
    images_per_sample = 1

    def __call__(self, x, y_soft, synthetic, rng):  # pragma: no cover - interface
        raise NotImplementedError

    def set_progress(self, fraction: float) -> None:
        """Called before every step with the fraction of the phase done (CMO's on/off window),
        as `Loss.set_progress`."""


@register_transform("none")
class NoMix(BatchTransform):
    def __call__(self, x, y_soft, synthetic, rng):
        return x, y_soft


class _PairMix(BatchTransform):
    """Shared by Mixup and CutMix: lam ~ Beta(alpha, alpha) and a partner for every sample."""

    def __init__(self, alpha: float = 1.0, pairing: str = "random"):
        self.alpha, self.pairing = alpha, pairing

    def draw(self, synthetic, rng, device) -> tuple[float, torch.Tensor]:
        lam = float(rng.beta(self.alpha, self.alpha)) if self.alpha > 0 else 1.0
        return lam, to_device(partners(synthetic, self.pairing, rng), device)


@register_transform("mixup")
class Mixup(_PairMix):
    """x = lam * x_i + (1 - lam) * x_j, same for labels."""

    def __call__(self, x, y_soft, synthetic, rng):
        lam, j = self.draw(synthetic, rng, x.device)
        return lam * x + (1 - lam) * x[j], lam * y_soft + (1 - lam) * y_soft[j]


@register_transform("cutmix")
class CutMix(_PairMix):
    """Paste a random box from the partner; labels mix by the pasted area (Yun et al.)."""

    def __call__(self, x, y_soft, synthetic, rng):
        lam, j = self.draw(synthetic, rng, x.device)
        H, W = x.shape[2:]
        cut = np.sqrt(1.0 - lam)
        ch, cw = int(H * cut), int(W * cut)
        cy, cx = int(rng.integers(H)), int(rng.integers(W))
        y0, y1 = np.clip(cy - ch // 2, 0, H), np.clip(cy + ch // 2, 0, H)
        x0, x1 = np.clip(cx - cw // 2, 0, W), np.clip(cx + cw // 2, 0, W)
        x = x.clone()
        x[:, :, y0:y1, x0:x1] = x[j][:, :, y0:y1, x0:x1]
        lam = 1.0 - (y1 - y0) * (x1 - x0) / (H * W)
        return x, lam * y_soft + (1 - lam) * y_soft[j]


@register_transform("cmo")
class CMO(BatchTransform):
    """CMO (Park et al. 2022, naver-ai/cmo): the batch holds (base, minority) pairs, interleaved
    by the "cmo" sampler; with probability `prob` a box of each minority image is pasted onto its
    base image (`cmo_paste`: one box per batch, lam ~ Beta(1, 1)), labels mixed by the pasted area.
    Off in the first `start` and last `end` fractions of the phase (the reference: 3 of 200
    epochs at each end; it tests start < epoch < epochs - end on whole epochs, so it is off for
    one more epoch at the start). Returns the base half: B samples from 2B images."""

    images_per_sample = 2

    def __init__(self, prob: float = 0.5, start: float = 3 / 200, end: float = 3 / 200):
        self.prob, self.start, self.end = prob, start, end
        self.on = True

    def set_progress(self, fraction: float) -> None:
        self.on = self.start <= fraction < 1.0 - self.end

    def __call__(self, x, y_soft, synthetic, rng):
        base, minor = x[0::2], x[1::2]
        if not self.on:
            return base, y_soft[0::2]
        return cmo_paste(base, y_soft[0::2], minor, y_soft[1::2], rng, self.prob)
