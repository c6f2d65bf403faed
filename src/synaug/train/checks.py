"""The checks of a training config's fields (`TrainConfig` runs them when it is made): types and
ranges, choices from the registries (optimizers, schedules, augmentations). A clear error, never a
later crash, whether the config comes from flags, a YAML file or Python."""

from __future__ import annotations

import math

from synaug.errors import ConfigError, unknown
from synaug.train.schedules import OPTIMIZERS, SCHEDULES
from synaug.validate import MAX_SIDE, MAX_WORKERS

_POSITIVE_INT = ("steps", "batch_size", "stage2_batch_size", "checkpoint_every", "eval_batch_size",
                 "dfr_refits", "cache_workers")
NORMALIZE = ("auto", "fit", "imagenet")
RESIZE = ("shorter-side", "squash")  # how the cache makes an image square (synaug.data.cache)
_NONNEG_INT = ("stage2_steps", "crop_padding", "seed")  # stage2_steps 0: keep stage 1's layer
_POSITIVE_FLOAT = ("lr", "stage2_lr", "mixup_alpha")
_NONNEG_FLOAT = ("momentum", "weight_decay", "gamma", "dro_step_size")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return (_is_int(v) or isinstance(v, float)) and math.isfinite(v)


def _bad(cfg, name: str, need: str):
    raise ConfigError(f"training option {name}: must be {need}, got {getattr(cfg, name)!r}")


def check_train_config(cfg) -> None:
    """Ranges and types of a TrainConfig (from flags or YAML): a clear error, not a later crash."""
    _check_numbers(cfg)
    _check_choices(cfg)
    _check_sizes(cfg)


def _check_numbers(cfg) -> None:
    """Counts, rates and fractions: typed, finite, in range."""
    for names, ok, need in ((_POSITIVE_INT, lambda v: _is_int(v) and v >= 1, "a positive integer"),
                            (_NONNEG_INT, lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
                            (_POSITIVE_FLOAT, lambda v: _is_num(v) and v > 0, "a positive number"),
                            (_NONNEG_FLOAT, lambda v: _is_num(v) and v >= 0, "a number >= 0")):
        for name in names:
            if not ok(getattr(cfg, name)):
                _bad(cfg, name, need)
    if cfg.stage2_per_class is not None and (not _is_int(cfg.stage2_per_class) or cfg.stage2_per_class < 1):
        _bad(cfg, "stage2_per_class", "a positive integer or null")
    if not isinstance(cfg.milestones, (tuple, list)) or not all(_is_num(m) and 0 <= m <= 1 for m in cfg.milestones):
        _bad(cfg, "milestones", "a list of fractions in [0, 1]")
    if not _is_num(cfg.warmup) or not 0 <= cfg.warmup < 1:
        _bad(cfg, "warmup", "a fraction of the steps, 0 <= warmup < 1 (e.g. 0.05); the warm-up must end before "
                            "training does")
    if cfg.cache_workers > MAX_WORKERS:
        _bad(cfg, "cache_workers", f"a number of processes from 1 to {MAX_WORKERS}")


def _check_choices(cfg) -> None:
    """Switches and names: booleans, and choices from the registries."""
    from synaug.train.augment import AUGMENTS  # torch, on first use: `synaug --help` stays fast
    for name in ("nesterov", "amp", "compile"):
        if not isinstance(getattr(cfg, name), bool):
            _bad(cfg, name, "true or false")
    if cfg.flip is not None and not isinstance(cfg.flip, bool):
        _bad(cfg, "flip", "true, false or null (null: on with random-resized-crop only)")
    for name, choices in (("schedule", SCHEDULES), ("optimizer", OPTIMIZERS), ("augment", AUGMENTS),
                          ("normalize", NORMALIZE), ("resize", RESIZE),
                          ("synthetic_weighting", ("none", "audit")), ("stage2_balance", ("subset", "sampler"))):
        if getattr(cfg, name) not in choices:
            _bad(cfg, name, " or ".join(choices))
    if not isinstance(cfg.model, str) or not isinstance(cfg.device, str):
        _bad(cfg, "model" if not isinstance(cfg.model, str) else "device", "a name")


def _check_sizes(cfg) -> None:
    """Image sides, crops and the model they feed."""
    for name in ("image_size", "crop_size"):
        side = getattr(cfg, name)
        if side is not None and (not _is_int(side) or not 1 <= side <= MAX_SIDE):
            _bad(cfg, name, f"a side in pixels from 1 to {MAX_SIDE}, or null")
    if cfg.crop_size and cfg.image_size and cfg.crop_size > cfg.image_size and cfg.augment != "random-resized-crop":
        _bad(cfg, "crop_size", f"at most image_size ({cfg.image_size}) for {cfg.augment!r} (a centre crop)")
    lo_hi = tuple(cfg.rrc_scale) if isinstance(cfg.rrc_scale, (tuple, list)) else ()
    if len(lo_hi) != 2 or not all(_is_num(v) for v in lo_hi) or not 0 < lo_hi[0] <= lo_hi[1] <= 1:
        _bad(cfg, "rrc_scale", "two area fractions [low, high] with 0 < low <= high <= 1")
    from synaug.train.models import MODELS, is_model_name
    if not is_model_name(cfg.model):
        raise ConfigError(unknown("model", cfg.model, MODELS) + " (or any torchvision classifier, or timm:<name>)")
