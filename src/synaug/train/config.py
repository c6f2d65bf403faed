"""Training hyper-parameters: one readable block with units, saved with every run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from synaug.errors import check_keys
from synaug.train.checks import check_train_config


@dataclass
class TrainConfig:
    model: str = "small-cnn"         # registered model or any torchvision classifier (resnet50, ...)
    pretrained: str | None = None    # local ImageNet checkpoint for the backbone (.pth / .safetensors)
    optimizer: str = "sgd"           # sgd | adam | adamw
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
    augment: str = "pad-crop"        # pad-crop (CIFAR) | random-resized-crop (ImageNet) | none
    crop_padding: int = 2            # pad-crop: pixels of zero padding for random crops
    rrc_scale: tuple = (0.08, 1.0)   # random-resized-crop: area fraction range
    flip: bool = False               # horizontal flips (off for digits)
    normalize: str = "auto"          # fit (real training data statistics) | imagenet | auto (imagenet with
                                     # a pretrained backbone, else fit)
    # large images: decoded once into a memory-mapped cache at `image_size` px, trained at `crop_size`
    image_size: int | None = None    # cache side in px (None: the size the dataset reader chose)
    crop_size: int | None = None     # training crop and centre-crop evaluation side (None: image_size)
    cache_dir: str | None = None     # where caches live (None: <output folder>/cache)
    cache_workers: int = 2           # processes decoding the cache
    # stage 2: last layer on a class-balanced real subset
    stage2_steps: int = 200
    stage2_lr: float = 0.01
    stage2_batch_size: int = 128
    stage2_per_class: int | None = None  # balanced subset: images per cell (capped at, and by default, the
                                     # smallest cell's count: 4 per class on mnist-lt at IF 100)
    stage2_balance: str = "subset"   # subset: that balanced subset of the real images; sampler: every real image,
                                     # drawn cell-balanced (cRT's class-balanced sampling)
    dro_step_size: float = 0.01    # Group DRO: q_g <- q_g * exp(step * loss_g)
    dfr_refits: int = 20           # DFR: logistic regressions averaged for the final layer
    seed: int = 0
    device: str = "auto"             # auto | cpu | cuda | cuda:N
    amp: bool = True                 # mixed precision on CUDA (ignored on CPU)
    compile: bool = False            # torch.compile the model for stage 1 (CUDA; minutes of compiling)
    checkpoint_every: int = 200      # steps between checkpoints
    eval_batch_size: int = 1024
    # synthetic images drawn in proportion to their cell's audit score (synaug.audit.weighting); off by default
    synthetic_weighting: str = "none"  # none | audit
    audit: str | None = None         # the `synaug audit` folder it reads (synaug-audit: its own audit)

    def __post_init__(self):
        for key in ("milestones", "rrc_scale"):
            if isinstance(getattr(self, key), list):
                setattr(self, key, tuple(getattr(self, key)))
        check_train_config(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        check_keys(d, [f.name for f in fields(cls)], "training options (train)")
        return cls(**d)

    def replace(self, **changes) -> TrainConfig:
        """A checked copy with `changes` (unknown names refused with a suggestion)."""
        return TrainConfig.from_dict({**self.to_dict(), **changes})

    def to_dict(self) -> dict:
        d = asdict(self)
        d["milestones"] = list(self.milestones)
        d["rrc_scale"] = list(self.rrc_scale)
        return d
