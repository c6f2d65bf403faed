"""Training hyper-parameters: one readable block with units, saved with every run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from synaug.errors import check_keys


@dataclass
class TrainConfig:
    model: str = "small-cnn"
    steps: int = 800                 # optimiser steps of stage 1
    batch_size: int = 128
    lr: float = 0.05                 # peak learning rate (SGD)
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = True
    warmup_steps: int = 40           # linear warm-up from 0 to lr
    schedule: str = "cosine"         # cosine | step
    milestones: tuple = (0.8, 0.9)   # step schedule: fractions of `steps` where lr *= gamma
    gamma: float = 0.1
    mixup_alpha: float = 1.0         # Beta(alpha, alpha) for Mixup / CutMix
    crop_padding: int = 2            # pixels of zero padding for random crops
    flip: bool = False               # horizontal flips (off for digits)
    # stage 2: last layer on a class-balanced real subset
    stage2_steps: int = 200
    stage2_lr: float = 0.01
    stage2_batch_size: int = 128
    stage2_per_class: int | None = None  # samples per class; None = smallest class count
    dro_step_size: float = 0.01    # Group DRO: q_g <- q_g * exp(step * loss_g)
    dfr_refits: int = 20           # DFR: logistic regressions averaged for the final layer
    seed: int = 0
    device: str = "auto"             # auto | cpu | cuda | cuda:N
    amp: bool = True                 # mixed precision on CUDA (ignored on CPU)
    checkpoint_every: int = 200      # steps between checkpoints
    eval_batch_size: int = 1024

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        check_keys(d, [f.name for f in fields(cls)], "training options (train)")
        d = dict(d)
        if "milestones" in d:
            d["milestones"] = tuple(d["milestones"])
        return cls(**d)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["milestones"] = list(self.milestones)
        return d
