"""`FitSettings`: how the `ddpm` generator's denoiser is trained. No torch here, so a config naming a
fit (`generate: {generator: ddpm, fit: ...}`) is checked when it is read, before anything runs."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from synaug.errors import ConfigError

NOT_RECORDED = ("checkpoint_every", "device")  # change how a fit runs, never what it makes


@dataclass(frozen=True)
class FitSettings:
    """How to train (units in comments). Every field but `checkpoint_every` and `device` is recorded
    in generator.json, and a resumed fit must use the same values."""

    arch: str = "fast"                 # denoiser: "fast" (CPU-friendly conv U-Net) or "unet" (diffusers UNet2DModel)
    arch_options: dict = field(default_factory=dict)  # e.g. {"channels": [32, 64]} (denoiser.ARCH_DEFAULTS)
    steps: int = 4000                  # optimiser steps
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
        positive = {k: getattr(self, k) for k in ("steps", "batch_size", "log_every", "checkpoint_every",
                                                  "train_timesteps")}
        bad = {k: v for k, v in positive.items() if not isinstance(v, int) or v < 1}
        if bad:
            raise ConfigError(f"fit settings {bad} must be integers >= 1")
        if not (self.lr > 0 and 0 <= self.ema_decay < 1 and 0 <= self.label_dropout < 1 and self.cbdm_weight >= 0
                and self.warmup_steps >= 0 and self.grad_clip >= 0 and self.weight_decay >= 0):
            raise ConfigError("fit settings need lr > 0, 0 <= ema_decay < 1, 0 <= label_dropout < 1 and "
                              f"cbdm_weight, warmup_steps, grad_clip, weight_decay >= 0; got {self}")

    @classmethod
    def from_options(cls, options: dict) -> "FitSettings":
        """Settings from a config mapping; an unknown key is an error naming the known ones."""
        known = [f.name for f in fields(cls)]
        extra = sorted(set(options) - set(known))
        if extra:
            raise ConfigError(f"ddpm fit: unknown setting(s) {extra}; the settings: {known}")
        settings = cls(**{k: (dict(v) if k == "arch_options" else v) for k, v in options.items()})
        settings.check()
        return settings

    def recorded(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k not in NOT_RECORDED}
