"""Per-batch augmentation on uint8 image tensors, on whatever device holds them: random crop with
padding (CIFAR recipe), random-resized crop (ImageNet recipe, one `roi_align` kernel for the whole
batch), horizontal flip, centre crop for evaluation, normalisation. No per-sample Python: every
random parameter is drawn for the whole batch at once from the step's generator."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from synaug.registry import Registry
from synaug.training.batches import to_device

AUGMENTS = Registry("augmentation")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def random_flip(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    mask = to_device(torch.rand(x.shape[0], generator=gen) < 0.5, x.device)[:, None, None, None]
    return torch.where(mask, x.flip(3), x)


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
            dy = to_device(torch.randint(0, 2 * p + 1, (B, 1), generator=gen), x.device)
            dx = to_device(torch.randint(0, 2 * p + 1, (B, 1), generator=gen), x.device)
            rows = (dy + torch.arange(H, device=x.device))[:, :, None]  # (B, H, 1)
            cols = (dx + torch.arange(W, device=x.device))[:, None, :]  # (B, 1, W)
            b = torch.arange(B, device=x.device)[:, None, None]
            x = padded.permute(0, 2, 3, 1)[b, rows, cols].permute(0, 3, 1, 2)  # (B, C, H, W)
        if self.flip:
            x = random_flip(x, gen)
        return x


@dataclass
class RandomResizedCrop:
    """torchvision's RandomResizedCrop for a batch: per image, up to 10 tries of an area fraction in
    `scale` and a log-uniform aspect ratio in `ratio`; the first box that fits is cut and resized to
    `size` x `size` by `torchvision.ops.roi_align` (bilinear samples at the centres of ceil(box/size)
    sub-cells per output pixel, averaged: exact at scale 1, an area average when shrinking, like an
    antialiased resize); images with no fitting try use the whole image. Returns float pixels in
    [0, 255]."""

    size: int
    scale: tuple = (0.08, 1.0)
    ratio: tuple = (3 / 4, 4 / 3)
    flip: bool = True
    tries: int = 10

    def boxes(self, B: int, H: int, W: int, gen: torch.Generator) -> torch.Tensor:
        """(B, 4) boxes x1, y1, x2, y2 in pixel coordinates."""
        area = H * W * torch.empty(B, self.tries).uniform_(*self.scale, generator=gen)
        log_r = torch.empty(B, self.tries).uniform_(math.log(self.ratio[0]), math.log(self.ratio[1]), generator=gen)
        aspect = torch.exp(log_r)
        w = torch.sqrt(area * aspect).round()
        h = torch.sqrt(area / aspect).round()
        fits = (w > 0) & (w <= W) & (h > 0) & (h <= H)
        first = torch.argmax(fits.int(), dim=1)  # index of the first try that fits (0 if none)
        any_fit = fits.any(dim=1)
        pick = lambda t: t.gather(1, first[:, None]).squeeze(1)  # noqa: E731
        w = torch.where(any_fit, pick(w), torch.full((B,), float(W)))
        h = torch.where(any_fit, pick(h), torch.full((B,), float(H)))
        u = torch.rand(B, 2, generator=gen)
        y = torch.floor(u[:, 0] * (H - h + 1))
        x = torch.floor(u[:, 1] * (W - w + 1))
        return torch.stack([x, y, x + w, y + h], dim=1)

    def __call__(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        from torchvision.ops import roi_align

        B, C, H, W = x.shape
        boxes = to_device(self.boxes(B, H, W, gen), x.device)
        rois = torch.cat([torch.arange(B, device=x.device, dtype=boxes.dtype)[:, None], boxes], dim=1)
        # aligned=True: box corners are pixel edges, so a full-image box maps exactly onto the image
        out = roi_align(x.float(), rois, (self.size, self.size), spatial_scale=1.0, sampling_ratio=-1,
                        aligned=True)
        return random_flip(out, gen) if self.flip else out


def center_crop(x: torch.Tensor, size: int | None) -> torch.Tensor:
    """The central `size` x `size` window (evaluation view of the ImageNet recipe: images cached at
    e.g. 256 px are evaluated on their central 224 px)."""
    H, W = x.shape[-2:]
    if size is None or (size >= H and size >= W):
        return x
    # torchvision's offsets (round, not floor), so exported models see the same window in plain torchvision
    top, left = int(round((H - size) / 2.0)), int(round((W - size) / 2.0))
    return x[..., top:top + size, left:left + size]


@AUGMENTS.register("pad-crop")
def _pad_crop(cfg, side: int) -> Augment:
    return Augment(cfg.crop_padding, cfg.flips)


@AUGMENTS.register("random-resized-crop")
def _random_resized_crop(cfg, side: int) -> RandomResizedCrop:
    return RandomResizedCrop(cfg.crop_size or side, tuple(cfg.rrc_scale), flip=cfg.flips)


@AUGMENTS.register("none")
def _center_only(cfg, side: int):
    """No random augmentation (DFR's base models): the evaluation view, flipped if `flip`."""
    def view(x, gen):
        x = center_crop(x, cfg.crop_size)
        return random_flip(x, gen) if cfg.flips else x
    return view


def build_augment(cfg, side: int):
    """The training augmentation named by `cfg.augment` (a TrainConfig) for images `side` px wide."""
    return AUGMENTS[cfg.augment](cfg, side)


class Normalize:
    """uint8 -> float, per-channel standardisation with statistics of the real training set."""

    def __init__(self, mean, std):
        self.mean = torch.as_tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.as_tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
        self._on_device: tuple[torch.Tensor, torch.Tensor] | None = None  # mean, std copied once per device

    @classmethod
    def imagenet(cls) -> Normalize:
        """The statistics ImageNet-pretrained backbones were trained with."""
        return cls(IMAGENET_MEAN, IMAGENET_STD)

    @classmethod
    def fit(cls, images_uint8: torch.Tensor) -> Normalize:
        x = images_uint8.float() / 255.0
        return cls(x.mean(dim=(0, 2, 3)).tolist(), x.std(dim=(0, 2, 3)).clamp_min(1e-3).tolist())

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self._on_device is None or self._on_device[0].device != x.device:
            # once, not every batch: each host-to-device copy of them waited for the GPU to drain
            self._on_device = (self.mean.to(x.device), self.std.to(x.device))
        mean, std = self._on_device
        return (x.float() / 255.0 - mean) / std

    def state(self) -> dict:
        return {"mean": self.mean.flatten().tolist(), "std": self.std.flatten().tolist()}
