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


def check_train_config(cfg) -> None:
    """Ranges and types of a TrainConfig (from flags or YAML): a clear error, not a later crash."""
    from synaug.train.augment import AUGMENTS  # torch, on first use: `synaug --help` stays fast

    def bad(name, need):
        raise ConfigError(f"training option {name}: must be {need}, got {getattr(cfg, name)!r}")

    def is_int(v):
        return isinstance(v, int) and not isinstance(v, bool)

    def is_num(v):
        return (is_int(v) or isinstance(v, float)) and math.isfinite(v)

    for name in _POSITIVE_INT:
        if not is_int(getattr(cfg, name)) or getattr(cfg, name) < 1:
            bad(name, "a positive integer")
    for name in _NONNEG_INT:
        if not is_int(getattr(cfg, name)) or getattr(cfg, name) < 0:
            bad(name, "an integer >= 0")
    for name in _POSITIVE_FLOAT:
        if not is_num(getattr(cfg, name)) or getattr(cfg, name) <= 0:
            bad(name, "a positive number")
    for name in _NONNEG_FLOAT:
        if not is_num(getattr(cfg, name)) or getattr(cfg, name) < 0:
            bad(name, "a number >= 0")
    if cfg.stage2_per_class is not None and (not is_int(cfg.stage2_per_class) or cfg.stage2_per_class < 1):
        bad("stage2_per_class", "a positive integer or null")
    if cfg.schedule not in SCHEDULES:
        bad("schedule", " or ".join(SCHEDULES))
    if not isinstance(cfg.milestones, (tuple, list)) or not all(is_num(m) and 0 <= m <= 1 for m in cfg.milestones):
        bad("milestones", "a list of fractions in [0, 1]")
    for name in ("nesterov", "amp", "compile"):
        if not isinstance(getattr(cfg, name), bool):
            bad(name, "true or false")
    if cfg.flip is not None and not isinstance(cfg.flip, bool):
        bad("flip", "true, false or null (null: on with random-resized-crop only)")
    if not is_num(cfg.warmup) or not 0 <= cfg.warmup < 1:
        bad("warmup", "a fraction of the steps, 0 <= warmup < 1 (e.g. 0.05); the warm-up must end before training does")
    for name, choices in (("optimizer", OPTIMIZERS), ("augment", AUGMENTS), ("normalize", NORMALIZE),
                          ("resize", RESIZE)):
        if getattr(cfg, name) not in choices:
            bad(name, " or ".join(choices))
    if cfg.synthetic_weighting not in ("none", "audit"):
        bad("synthetic_weighting", "none or audit")
    if cfg.stage2_balance not in ("subset", "sampler"):
        bad("stage2_balance", "subset or sampler")
    for name in ("image_size", "crop_size"):
        side = getattr(cfg, name)
        if side is not None and (not is_int(side) or not 1 <= side <= MAX_SIDE):
            bad(name, f"a side in pixels from 1 to {MAX_SIDE}, or null")
    if cfg.cache_workers > MAX_WORKERS:
        bad("cache_workers", f"a number of processes from 1 to {MAX_WORKERS}")
    if cfg.crop_size and cfg.image_size and cfg.crop_size > cfg.image_size and cfg.augment != "random-resized-crop":
        bad("crop_size", f"at most image_size ({cfg.image_size}) for {cfg.augment!r} (a centre crop)")
    lo_hi = tuple(cfg.rrc_scale) if isinstance(cfg.rrc_scale, (tuple, list)) else ()
    if len(lo_hi) != 2 or not all(is_num(v) for v in lo_hi) or not 0 < lo_hi[0] <= lo_hi[1] <= 1:
        bad("rrc_scale", "two area fractions [low, high] with 0 < low <= high <= 1")
    if not isinstance(cfg.model, str) or not isinstance(cfg.device, str):
        bad("model" if not isinstance(cfg.model, str) else "device", "a name")
    from synaug.train.models import MODELS, is_model_name
    if not is_model_name(cfg.model):
        raise ConfigError(unknown("model", cfg.model, MODELS) + " (or any torchvision classifier, or timm:<name>)")
