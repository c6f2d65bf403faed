"""`FitSettings`: how the `ddpm` generator's denoiser is trained. No torch here, so a config naming a
fit (`generate: {generator: ddpm, fit: ...}`) is checked when it is read, before anything runs."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from numbers import Integral, Real

from synaug.constraints import (BOOLEAN, NONNEG, NONNEG_INT, POSITIVE, POSITIVE_INT, TEXT, Interval, ListOf, Options,
                                check, check_fields, failure)
from synaug.errors import check_keys

NOT_RECORDED = ("checkpoint_every", "device")  # change how a fit runs, never what it makes
# each denoiser's options and their defaults (synaug.generators.denoiser builds them; kept here: no torch)
ARCH_DEFAULTS = {"fast": {"channels": [32, 64], "emb_dim": 128, "fold": 2},
                 "unet": {"channels": [32, 64, 64], "layers_per_block": 2, "attention": False, "norm_groups": 8}}
ARCH_CONSTRAINTS = {"channels": (ListOf(Interval(Integral, 1, 4096)),), "emb_dim": (POSITIVE_INT,),
                    "fold": (Interval(Integral, 1, 8),), "layers_per_block": (POSITIVE_INT,), "attention": (BOOLEAN,),
                    "norm_groups": (POSITIVE_INT,)}
BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2")  # diffusers DDPMScheduler's
UNIT = Interval(Real, 0, 1, closed="left")  # 0 <= value < 1
CONSTRAINTS = {"arch": (Options(ARCH_DEFAULTS),), "steps": (POSITIVE_INT,), "batch_size": (POSITIVE_INT,),
               "lr": (POSITIVE,), "warmup_steps": (NONNEG_INT,), "weight_decay": (NONNEG,), "grad_clip": (NONNEG,),
               "ema_decay": (UNIT,), "label_dropout": (UNIT,), "cbdm_weight": (NONNEG,),
               "train_timesteps": (Interval(Integral, 2, 100_000),), "beta_schedule": (Options(BETA_SCHEDULES),),
               "seed": (NONNEG_INT,), "log_every": (POSITIVE_INT,), "checkpoint_every": (POSITIVE_INT,),
               "device": (TEXT,)}


@dataclass(frozen=True)
class FitSettings:
    """How to train (units in comments). Every field but `checkpoint_every` and `device` is recorded
    in generator.json, and a resumed fit must use the same values."""

    arch: str = "fast"                 # denoiser: "fast" (CPU-friendly conv U-Net) or "unet" (diffusers UNet2DModel)
    arch_options: dict = field(default_factory=dict)  # e.g. {"channels": [32, 64]} (denoiser.ARCH_DEFAULTS)
    steps: int = 2000                  # optimiser steps (docs/ddpm.md: 4000 adds ~1 CAS point for twice the time)
    batch_size: int = 128              # images per step
    lr: float = 2e-3                   # AdamW peak learning rate
    warmup_steps: int = 100            # linear warm-up, then cosine decay to 0
    weight_decay: float = 0.0          # AdamW
    grad_clip: float = 1.0             # max gradient norm (0: none)
    ema_decay: float = 0.999           # EMA of the weights, sampled from (0: no EMA, sample the weights)
    label_dropout: float = 0.1         # probability of the null label (classifier-free guidance)
    cbdm_weight: float = 0.0           # CBDM's tau (0: off; its code's default when on is 1.0)
    train_timesteps: int = 1000        # DDPMScheduler num_train_timesteps
    beta_schedule: str = "linear"      # DDPMScheduler beta_schedule ("linear", "scaled_linear", "squaredcos_cap_v2")
    seed: int = 0
    log_every: int = 50                # steps per log.jsonl line (mean loss over those steps)
    checkpoint_every: int = 250        # steps between checkpoints
    device: str = "auto"               # "cpu", "cuda", "auto" (resume bit-exactly on the device that started)

    def check(self) -> None:
        """Every setting against its constraint, and the denoiser's options against theirs (a width of 0
        makes no network: refused here, before any data is read)."""
        check_fields(self, CONSTRAINTS, "ddpm fit")
        if not isinstance(self.arch_options, dict):
            raise failure("ddpm fit arch_options", "a mapping of the denoiser's options", self.arch_options)
        check_keys(self.arch_options, ARCH_DEFAULTS[self.arch], f"ddpm fit arch_options of {self.arch!r}")
        for name, value in self.arch_options.items():
            check(f"ddpm fit arch_options {name}", value, *ARCH_CONSTRAINTS[name])
        options = {**ARCH_DEFAULTS[self.arch], **self.arch_options}
        if self.arch == "unet" and any(c % options["norm_groups"] for c in options["channels"]):
            raise failure("ddpm fit arch_options channels", f"multiples of norm_groups ({options['norm_groups']})",
                          options["channels"])

    @classmethod
    def from_options(cls, options: dict) -> "FitSettings":
        """Settings from a config mapping; an unknown key is an error naming the known ones."""
        check_keys(options, [f.name for f in fields(cls)], "ddpm fit")
        settings = cls(**{k: (dict(v) if k == "arch_options" else v) for k, v in options.items()})
        settings.check()
        return settings

    def recorded(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k not in NOT_RECORDED}
