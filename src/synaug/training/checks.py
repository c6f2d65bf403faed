"""The constraints of a training config's fields (`TrainConfig` checks them when it is made), declared
per field in `synaug.constraints`' vocabulary: types and ranges, choices from the registries
(optimizers, schedules, augmentations). A clear error, never a later crash, whether the config comes
from flags, a YAML file or Python; a flag's argparse type declares the same constraint."""

from __future__ import annotations

from numbers import Real

from synaug.constraints import (BOOLEAN, FRACTION, NONNEG, NONNEG_INT, POSITIVE, POSITIVE_INT, SIDE, TEXT, WORKERS,
                                Interval, ListOf, Options, check_fields, failure)
from synaug.errors import ConfigError, unknown
from synaug.training.augment import AUGMENTS
from synaug.training.models import MODELS, is_model_name
from synaug.training.schedules import OPTIMIZERS, SCHEDULES

NORMALIZE = ("auto", "fit", "imagenet")
RESIZE = ("shorter-side", "squash")  # how the cache makes an image square (synaug.data.cache)
SYNTHETIC_WEIGHTINGS = ("none", "audit")  # audit: synaug.audit.weighting
STAGE2_BALANCE = ("subset", "sampler")
WHERE = "training option"

CONSTRAINTS = {  # field: what it may be (None: null); TrainConfig's comments say what each means
    "steps": (POSITIVE_INT,), "batch_size": (POSITIVE_INT,), "stage2_batch_size": (POSITIVE_INT,),
    "checkpoint_every": (POSITIVE_INT,), "eval_batch_size": (POSITIVE_INT,), "dfr_refits": (POSITIVE_INT,),
    "cache_workers": (WORKERS,),
    "stage2_steps": (NONNEG_INT,), "crop_padding": (NONNEG_INT,), "seed": (NONNEG_INT,),  # stage2_steps 0: stage 1's
    "lr": (POSITIVE,), "stage2_lr": (POSITIVE,), "mixup_alpha": (POSITIVE,),
    "momentum": (NONNEG,), "weight_decay": (NONNEG,), "gamma": (NONNEG,), "dro_step_size": (NONNEG,),
    "stage2_per_class": (POSITIVE_INT, None),
    "milestones": (ListOf(Interval(Real, 0, 1), min_len=0),),
    "warmup": (FRACTION,),  # the warm-up must end before training does
    "rrc_scale": (ListOf(Interval(Real, 0, 1, closed="right"), 2, 2),),
    "nesterov": (BOOLEAN,), "amp": (BOOLEAN,), "compile": (BOOLEAN,), "flip": (BOOLEAN, None),
    "schedule": (Options(SCHEDULES),), "optimizer": (Options(OPTIMIZERS),), "augment": (Options(AUGMENTS),),
    "normalize": (Options(NORMALIZE),), "resize": (Options(RESIZE),),
    "synthetic_weighting": (Options(SYNTHETIC_WEIGHTINGS),), "stage2_balance": (Options(STAGE2_BALANCE),),
    "model": (TEXT,), "device": (TEXT,),
    "image_size": (SIDE, None), "crop_size": (SIDE, None),
}


def check_train_config(cfg) -> None:
    """Every field against its constraint, then what relates two fields."""
    check_fields(cfg, CONSTRAINTS, WHERE)
    if cfg.crop_size and cfg.image_size and cfg.crop_size > cfg.image_size and cfg.augment != "random-resized-crop":
        raise failure(f"{WHERE} crop_size", f"at most image_size ({cfg.image_size}) for {cfg.augment!r} (a centre "
                      "crop)", cfg.crop_size)
    if cfg.rrc_scale[0] > cfg.rrc_scale[1]:
        raise failure(f"{WHERE} rrc_scale", "two area fractions [low, high] with low <= high", list(cfg.rrc_scale))
    if not is_model_name(cfg.model):
        raise ConfigError(unknown("model", cfg.model, MODELS) + " (or any torchvision classifier, or timm:<name>)")
