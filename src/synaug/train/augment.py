"""Per-batch augmentation on uint8 image tensors: random crop with padding, horizontal flip,
normalisation. No per-sample Python: offsets and flips are drawn for the whole batch at once."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Augment:
    crop_padding: int = 2
    flip: bool = False  # digits must not be mirrored; natural images may

    def __call__(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """x: (B, C, H, W) uint8 or float; returns the same dtype."""
        B, C, H, W = x.shape
        p = self.crop_padding
        if p > 0:
            padded = torch.nn.functional.pad(x, (p, p, p, p))
            dy = torch.randint(0, 2 * p + 1, (B, 1), generator=gen).to(x.device)
            dx = torch.randint(0, 2 * p + 1, (B, 1), generator=gen).to(x.device)
            rows = (dy + torch.arange(H, device=x.device))[:, :, None]  # (B, H, 1)
            cols = (dx + torch.arange(W, device=x.device))[:, None, :]  # (B, 1, W)
            b = torch.arange(B, device=x.device)[:, None, None]
            x = padded.permute(0, 2, 3, 1)[b, rows, cols].permute(0, 3, 1, 2)  # (B, C, H, W)
        if self.flip:
            mask = (torch.rand(B, generator=gen) < 0.5).to(x.device)[:, None, None, None]
            x = torch.where(mask, x.flip(3), x)
        return x


class Normalize:
    """uint8 -> float, per-channel standardisation with statistics of the real training set."""

    def __init__(self, mean, std):
        self.mean = torch.as_tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.as_tensor(std, dtype=torch.float32).view(1, -1, 1, 1)

    @classmethod
    def fit(cls, images_uint8: torch.Tensor) -> Normalize:
        x = images_uint8.float() / 255.0
        return cls(x.mean(dim=(0, 2, 3)).tolist(), x.std(dim=(0, 2, 3)).clamp_min(1e-3).tolist())

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self.mean.to(x.device), self.std.to(x.device)
        return (x.float() / 255.0 - mean) / std

    def state(self) -> dict:
        return {"mean": self.mean.flatten().tolist(), "std": self.std.flatten().tolist()}
