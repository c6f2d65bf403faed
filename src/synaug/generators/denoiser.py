"""Class-conditional noise predictors eps(x_t, t, label) for the `ddpm` generator, chosen by name.

Both take `num_embeds` labels: one per class (or per class x group cell) plus a last, null label
that classifier-free guidance trains with label dropout and samples as the unconditional branch.
The label's embedding is added to the timestep embedding, as diffusers' UNet2DModel does with
`num_class_embeds`.

- `fast` (default): a small plain-convolution U-Net built for CPU training. Pixels are folded
  2x2 into channels first (`pixel_unshuffle`, DiT's "patch size 2"), so no convolution runs at
  full resolution: at 28 px the network works on 14x14 and 7x7 maps, where a 3x3 convolution costs
  a quarter of its full-resolution price. No attention (at 7x7 a 3x3 convolution already sees most
  of the image), GroupNorm with a per-block scale and shift from the embedding (AdaGN), SiLU.
- `unet`: diffusers' `UNet2DModel` (ResNet blocks, optional self-attention at the middle level),
  the reference architecture; about 3-10x slower per image on CPU (docs/ddpm.md has the numbers).

`build_denoiser(config)` rebuilds a network from the plain dict recorded in GEN/generator.json
(diffusers' register_to_config idea): the config is the whole architecture.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from synaug.errors import ConfigError, require
from synaug.generators.ddpm_settings import ARCH_DEFAULTS
from synaug.registry import Registry

DENOISERS = Registry("denoiser architecture")


def timestep_features(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal features of integer timesteps (the Transformer's / DDPM's), shape (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    angles = t.float()[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


def groups_for(channels: int) -> int:
    """GroupNorm groups: 8 channels per group where possible (small widths keep >= 2 groups)."""
    for g in (8, 4, 2, 1):
        if channels % g == 0 and channels // g >= 4:
            return g
    return 1


class ResBlock(nn.Module):
    """GroupNorm -> SiLU -> conv, then GroupNorm scaled and shifted by the embedding -> SiLU -> conv,
    plus the (1x1-projected) input."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups_for(c_in), c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.film = nn.Linear(emb_dim, 2 * c_out)
        self.norm2 = nn.GroupNorm(groups_for(c_out), c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)  # each block starts as the identity: stable early training
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.film(emb)[:, :, None, None].chunk(2, dim=1)
        h = self.conv2(F.silu(self.norm2(h) * (1 + scale) + shift))
        return self.skip(x) + h


@DENOISERS.register("fast")
class FastDenoiser(nn.Module):
    """U-Net over 2x2-folded pixels: one ResBlock per level on the way down, one per level on the way
    up (taking the skip), stride-2 convolutions down, nearest-neighbour upsampling + conv up.
    `channels` are the widths per level (level 0 at half the image size)."""

    def __init__(self, *, image_size: int, in_channels: int, num_embeds: int, channels=(32, 64),
                 emb_dim: int = 128, fold: int = 2):
        super().__init__()
        self.fold, self.emb_dim, self.levels = int(fold), int(emb_dim), len(channels)
        self.multiple = self.fold * 2 ** (len(channels) - 1)  # inputs are padded to a multiple of this
        self.time = nn.Sequential(nn.Linear(channels[0], emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.label = nn.Embedding(num_embeds, emb_dim)
        self.stem = nn.Conv2d(in_channels * fold * fold, channels[0], 3, padding=1)
        self.down = nn.ModuleList(ResBlock(a, b, emb_dim) for a, b in zip((channels[0],) + tuple(channels), channels))
        self.pool = nn.ModuleList(nn.Conv2d(c, c, 3, stride=2, padding=1) for c in channels[:-1])
        self.mid = ResBlock(channels[-1], channels[-1], emb_dim)
        ups = list(reversed(channels))
        self.up = nn.ModuleList(ResBlock(2 * c, c, emb_dim) for c in ups)  # input: h and the skip, both c wide
        self.unpool = nn.ModuleList(nn.Conv2d(a, b, 3, padding=1) for a, b in zip(ups[:-1], ups[1:]))
        self.out_norm = nn.GroupNorm(groups_for(channels[0]), channels[0])
        self.out = nn.Conv2d(channels[0], in_channels * fold * fold, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def embed(self, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        t_feat = timestep_features(t, self.stem.out_channels)
        return F.silu(self.time(t_feat) + self.label(labels))

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        H, W = x.shape[-2:]
        pad_h, pad_w = -H % self.multiple, -W % self.multiple
        x = F.pad(x, (0, pad_w, 0, pad_h)) if pad_h or pad_w else x
        emb = self.embed(t, labels)
        h = self.stem(F.pixel_unshuffle(x, self.fold))
        skips = []
        for k, block in enumerate(self.down):
            h = block(h, emb)
            skips.append(h)
            h = self.pool[k](h) if k < len(self.pool) else h
        h = self.mid(h, emb)
        for k, block in enumerate(self.up):
            h = block(torch.cat([h, skips.pop()], dim=1), emb)
            if k < len(self.unpool):
                h = self.unpool[k](F.interpolate(h, scale_factor=2.0, mode="nearest"))
        h = F.pixel_shuffle(self.out(F.silu(self.out_norm(h))), self.fold)
        return h[..., :H, :W]


@DENOISERS.register("unet")
class UNetDenoiser(nn.Module):
    """diffusers' UNet2DModel with `num_class_embeds` (its class embedding is added to the time
    embedding). `attention` puts self-attention in the last down block and the first up block."""

    def __init__(self, *, image_size: int, in_channels: int, num_embeds: int, channels=(32, 64, 64),
                 layers_per_block: int = 2, attention: bool = False, norm_groups: int = 8):
        super().__init__()
        diffusers = require("diffusers", "diffusion", "The ddpm generator's unet denoiser")
        down = ["DownBlock2D"] * len(channels)
        up = ["UpBlock2D"] * len(channels)
        if attention:
            down[-1], up[0] = "AttnDownBlock2D", "AttnUpBlock2D"
        self.unet = diffusers.UNet2DModel(
            sample_size=image_size, in_channels=in_channels, out_channels=in_channels,
            block_out_channels=tuple(channels), down_block_types=tuple(down), up_block_types=tuple(up),
            layers_per_block=layers_per_block, norm_num_groups=norm_groups, num_class_embeds=num_embeds)

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.unet(x, t, class_labels=labels).sample


def architecture(arch: str, image_shape, num_embeds: int, **options) -> dict:
    """The full config of a denoiser (what generator.json records): defaults, then `options`; an
    option the architecture does not have is a ConfigError."""
    if arch not in ARCH_DEFAULTS:
        raise ConfigError(f"unknown denoiser architecture {arch!r}; choose from {sorted(ARCH_DEFAULTS)}")
    unknown = sorted(set(options) - set(ARCH_DEFAULTS[arch]))
    if unknown:
        raise ConfigError(f"denoiser {arch!r} has no option(s) {unknown}; its options: {sorted(ARCH_DEFAULTS[arch])}")
    H, W, C = image_shape
    if H != W:
        raise ConfigError(f"the ddpm generator trains on square images; these are {H}x{W}")
    return {"arch": arch, "image_size": int(H), "in_channels": int(C), "num_embeds": int(num_embeds),
            **ARCH_DEFAULTS[arch], **options}


def build_denoiser(config: dict) -> nn.Module:
    """The network a config (from `architecture`, or generator.json) describes, freshly initialised."""
    options = {k: (tuple(v) if isinstance(v, list) else v) for k, v in config.items() if k != "arch"}
    return DENOISERS.create(config["arch"], **options)
