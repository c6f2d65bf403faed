"""Training hyper-parameters: one readable block with units, saved with every run.

Every field carries its meaning in the comment beside it: `synaug.training.options_doc` turns this block
into the table of docs/training-options.md (a test keeps the two equal), so the comments are the
documentation. A comment line on its own, at field indentation, starts a section of that table.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from synaug.errors import ConfigError, check_keys
from synaug.training.checks import check_train_config


@dataclass
class TrainConfig:
    # model and optimiser
    model: str = "small-cnn"         # classifier: small-cnn, resnet32 (CIFAR), resnet18, resnet50, any torchvision
                                     # classifier by name, or timm:<name>
    pretrained: str | None = None    # local ImageNet checkpoint for the backbone (.pth / .safetensors)
    optimizer: str = "sgd"           # sgd | adam | adamw
    steps: int = 800                 # optimiser steps of stage 1
    batch_size: int = 128            # images per stage-1 step (under torchrun: the global batch)
    lr: float = 0.05                 # peak learning rate of stage 1, reached at the end of the warm-up
    momentum: float = 0.9            # SGD momentum
    weight_decay: float = 5e-4       # L2 penalty of stage 1 (and of stage 2 unless its recipe sets one)
    nesterov: bool = True            # Nesterov momentum (SGD)
    warmup: float = 0.05             # linear warm-up from 0 to lr over this fraction of `steps` (0 <= warmup < 1;
                                     # 0.05 of 800 steps = 40); a fraction, so a short run still reaches lr
    schedule: str = "cosine"         # after the warm-up: cosine (to 0) | step | constant
    milestones: tuple = (0.8, 0.9)   # step schedule: fractions of `steps` where lr *= gamma
    gamma: float = 0.1               # step schedule: lr factor at each milestone
    mixup_alpha: float = 1.0         # Beta(alpha, alpha) for Mixup / CutMix
    # augmentation and input
    augment: str = "pad-crop"        # pad-crop (CIFAR) | random-resized-crop (ImageNet) | none (centre crop only)
    crop_padding: int = 2            # pad-crop: pixels of zero padding for random crops
    rrc_scale: tuple = (0.08, 1.0)   # random-resized-crop: area fraction range (torchvision's default)
    flip: bool | None = None         # horizontal flips; null: on with random-resized-crop (photos), off with
                                     # pad-crop (digits must not be mirrored) and with none
    normalize: str = "auto"          # fit (real training data statistics) | imagenet | auto (imagenet with
                                     # a pretrained backbone, else fit)
    # large images: decoded once into a memory-mapped cache at `image_size` px, trained at `crop_size`
    image_size: int | None = None    # cache side in px (null: the size the dataset reader chose)
    crop_size: int | None = None     # training crop and centre-crop evaluation side (null: image_size)
    resize: str = "shorter-side"     # how an image becomes image_size x image_size in the cache: shorter-side
                                     # (torchvision Resize(image_size) + CenterCrop, ImageNet's) | squash (both
                                     # sides resized, aspect ratio lost: DFR's Waterbirds recipe)
    cache_dir: str | None = None     # where caches live (null: $SYNAUG_CACHE_DIR, else ~/.cache/synaug)
    cache_workers: int = 2           # processes decoding the cache
    # stage 2: last layer on a class-balanced real subset
    stage2_steps: int = 200          # optimiser steps of stage 2 (0: keep stage 1's last layer)
    stage2_lr: float = 0.01          # stage-2 learning rate (cosine from it, no warm-up)
    stage2_batch_size: int = 128     # images per stage-2 step (at most the balanced subset; not `batch_size`)
    stage2_per_class: int | None = None  # balanced subset: images per cell (capped at, and by default, the
                                     # smallest cell's count: 4 per class on mnist-lt at IF 100)
    stage2_balance: str = "subset"   # subset: that balanced subset of the real images; sampler: every real image,
                                     # drawn cell-balanced (cRT's class-balanced sampling)
    dro_step_size: float = 0.01      # Group DRO: q_g <- q_g * exp(step * loss_g)
    dfr_refits: int = 20             # DFR: logistic regressions averaged for the final layer
    # running
    seed: int = 0                    # model initialisation, batches, augmentation and Mixup draws
    device: str = "auto"             # auto | cpu | cuda | cuda:N
    amp: bool = True                 # mixed precision on CUDA (ignored on CPU)
    compile: bool = False            # torch.compile the model for stage 1 (CUDA; minutes of compiling)
    checkpoint_every: int = 200      # steps between checkpoints
    eval_batch_size: int = 1024      # images per forward pass at evaluation
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
        if "warmup_steps" in d:
            raise ConfigError(renamed_warmup(d))
        check_keys(d, [f.name for f in fields(cls)], "training options (train)")
        return cls(**d)

    @classmethod
    def from_record(cls, d: dict) -> TrainConfig:
        """The config a run folder recorded, older records included (`warmup_steps` read as its
        fraction of the steps, as those runs trained)."""
        d = dict(d)
        if "warmup_steps" in d:
            d["warmup"] = min(int(d.pop("warmup_steps")) / max(1, int(d.get("steps", 800))), 0.99)
        d.setdefault("resize", "squash")  # the only mode before `resize` existed
        return cls.from_dict(d)

    def replace(self, **changes) -> TrainConfig:
        """A checked copy with `changes` (unknown names refused with a suggestion)."""
        return TrainConfig.from_dict({**self.to_dict(), **changes})

    def to_dict(self) -> dict:
        d = asdict(self)
        d["milestones"] = list(self.milestones)
        d["rrc_scale"] = list(self.rrc_scale)
        return d

    @property
    def flips(self) -> bool:
        """Whether training images are mirrored: `flip`, or by default only with random-resized-crop."""
        return self.flip if self.flip is not None else self.augment == "random-resized-crop"

    @property
    def warmup_steps(self) -> int:
        """The warm-up in steps: `warmup` x `steps`, rounded, and always fewer than `steps`."""
        return max(0, min(round(self.warmup * self.steps), self.steps - 1))

    def resolved(self, normalize: str | None = None) -> dict:
        """What the defaults that depend on other settings came to (config.yaml's `resolved:` block)."""
        return {"flip": self.flips, "warmup_steps": self.warmup_steps, "normalize": normalize or self.normalize,
                "crop_size": self.crop_size or self.image_size, "rrc_scale": list(self.rrc_scale),
                "resize": self.resize}


def renamed_warmup(d: dict) -> str:
    """The message for the old `warmup_steps` key: its fraction of the configured steps, or why it
    cannot work (a warm-up as long as the run never reaches its learning rate)."""
    steps = d.get("steps", 800)
    head = ("training option warmup_steps is now `warmup`, a fraction of the steps (so a short run still reaches "
            f"its lr): warmup_steps {d['warmup_steps']} of {steps} steps")
    try:
        fraction = int(d["warmup_steps"]) / int(steps)
    except (TypeError, ValueError, ZeroDivisionError):
        return f"{head}: give warmup: WARMUP_STEPS / STEPS instead (e.g. 0.05)"
    if fraction >= 1:
        return f"{head} would never reach the learning rate; give e.g. warmup: 0.05 (5 % of the steps)"
    return f"{head} is warmup: {fraction:.4g}"
