"""Stage-2 recipes: what happens to a trained network's last layer, and on which real images.
A method names one recipe (`Method.stage2`) and one data source (`Method.stage2_data`); adding a
recipe is one `@register_stage2` here.

- "finetune": train only the last layer on a stratum-balanced REAL subset, features frozen (SYNAuG);
- "retrain": the same, the last layer re-initialised first (Table 1 d);
- "dfr": DFR's last-layer re-fit on group-balanced validation embeddings (Kirichenko et al.);
- "wb": Weight Balancing's stage 2 (Alshammari et al.): the last layer on the whole (imbalanced)
  set with class-balanced loss, weight decay 0.1 and MaxNorm.

A recipe that works on some classifier heads only declares them as `recipe.heads`, and one that
needs more of its data than the data source gives declares `recipe.check_data(tuning)`; both are
checked before stage 1 (`synaug.training.pipeline.check_before_training`; WB: MaxNorm caps the rows of
a linear layer; DFR needs group labels).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from synaug.data.imageset import DatasetSplits, ImageSet
from synaug.errors import ConfigError
from synaug.fileio import write_json
from synaug.registry import Registry
from synaug.training import distributed
from synaug.training.augment import Normalize, center_crop
from synaug.training.config import TrainConfig
from synaug.training.dfr import apply_linear, fit_dfr
from synaug.training.distributed import Dist
from synaug.training.loop import Callback, FitConfig, FitParts, Phase, TensorData, fit, predict, save_checkpoint
from synaug.training.losses import LOSSES
from synaug.training.mixing import BATCH_TRANSFORMS
from synaug.training.models import Classifier
from synaug.training.samplers import SAMPLERS, balanced_subset
from synaug.training.weight_balancing import MaxNorm

STAGE2 = Registry("stage-2 recipe")
register_stage2 = STAGE2.register
STAGE2_DATA = Registry("stage-2 data")
register_stage2_data = STAGE2_DATA.register


@dataclass
class Stage2:
    """What a recipe works with: the stage-1 model, the real images it tunes on (chosen by the
    method's `stage2_data`), and `callbacks(phase_name, checkpoint)` for its `fit` calls."""

    model: Classifier
    normalize: Normalize
    augment: Callable       # stage 1's per-image augmentation, used again in stage 2
    real: ImageSet          # the real training images (classes only for a method without groups)
    tuning: ImageSet        # the real images stage 2 balances and trains on
    cfg: TrainConfig
    device: torch.device
    run_dir: Path
    resume: bool
    callbacks: Callable[[Path], list[Callback]]
    dist: Dist = field(default_factory=Dist)


@register_stage2_data("train")
def training_split(splits: DatasetSplits, real: ImageSet, method_name: str, use_groups: bool) -> ImageSet:
    return real


@register_stage2_data("val")
def validation_split(splits: DatasetSplits, real: ImageSet, method_name: str, use_groups: bool) -> ImageSet:
    """The validation split (Table 4: DFR's data)."""
    if splits.val is None:
        raise ConfigError(f"method {method_name!r} fine-tunes on a validation split, and this dataset has none")
    return splits.val if use_groups else splits.val.without_groups()


def stage2_batch_size(cfg: TrainConfig, n: int, world: int = 1) -> int:
    """At most the subset's size, and a multiple of the number of processes under torchrun."""
    return max(world, min(cfg.stage2_batch_size, n) // world * world)


def stage2_phase(cfg: TrainConfig, n: int, weight_decay: float | None = None, world: int = 1) -> Phase:
    """Cosine from `stage2_lr`, no warm-up; stage 1's weight decay unless the recipe sets its own."""
    wd = cfg.weight_decay if weight_decay is None else weight_decay
    return Phase(name="stage2", steps=cfg.stage2_steps, batch_size=stage2_batch_size(cfg, n, world), lr=cfg.stage2_lr,
                 momentum=cfg.momentum, weight_decay=wd, nesterov=cfg.nesterov, warmup_steps=0, schedule="cosine",
                 optimizer=cfg.optimizer, hint=f"Lower stage2_lr (--stage2-lr, now {cfg.stage2_lr:g}).")


@register_stage2("finetune")
def finetune(s: Stage2) -> np.ndarray:
    """Train only `model.classifier` on a balanced REAL subset (every cell of `tuning` equally
    represented); features frozen (eval mode, no gradients). Returns the subset's indices."""
    return _train_last_layer(s, reinit=False)


@register_stage2("retrain")
def retrain(s: Stage2) -> np.ndarray:
    """As "finetune", with the last layer re-initialised first (not again on a resumed run)."""
    return _train_last_layer(s, reinit=True)


def _train_last_layer(s: Stage2, reinit: bool) -> np.ndarray:
    """SYNAuG's stage 2 on a cell-balanced real subset (`stage2_per_class` per cell, default the smallest
    cell's count), or on every real image drawn cell-balanced (`stage2_balance: sampler`, cRT's)."""
    cfg, model = s.cfg, s.model
    if cfg.stage2_balance == "sampler":
        idx, sampler = np.arange(len(s.tuning)), "cell-balanced"
    else:
        idx, sampler = balanced_subset(s.tuning.labels, cfg.stage2_per_class, cfg.seed, s.tuning.cells()), "shuffle"
    if reinit and not (s.resume and (s.run_dir / "stage2.pt").is_file()):
        torch.manual_seed(cfg.seed + 1)
        model.classifier.reset_parameters()
    # a cosine head is fine-tuned at the scale its stage-1 loss trained it with (plain layers: 1)
    fit_last_layer(s, s.tuning.subset(idx), LOSSES["ce"](scale=getattr(model.classifier, "logit_scale", 1.0)),
                   sampler=sampler)
    return idx


def fit_last_layer(s: Stage2, subset: ImageSet, loss_fn, weight_decay: float | None = None,
                   extra: tuple[Callback, ...] = (), sampler: str = "shuffle", batchnorm: str = "eval") -> None:
    """Train only `model.classifier` on `subset` (drawn by `sampler`, no mixing), features frozen (no
    gradients; BatchNorm statistics frozen too with `batchnorm="eval"`, or moving with "train" as
    Weight Balancing's reference trains), with the stage-2 checkpoint and log; `extra` callbacks run
    before those, so a step's checkpoint holds what they made of it (MaxNorm's projected weights)."""
    cfg, model = s.cfg, s.model
    for p in model.features.parameters():
        p.requires_grad_(False)
    world = s.dist.world
    facts = dict(n=len(subset), cells=subset.cells(), batch_size=stage2_batch_size(cfg, len(subset), world),
                 seed=cfg.seed + 1)
    parts = FitParts(model.classifier.parameters(), SAMPLERS.create(sampler, facts), s.augment, s.normalize,
                     BATCH_TRANSFORMS["none"](), loss_fn,
                     train_modules=[model] if batchnorm == "train" else [model.classifier])
    fit(model, TensorData.from_imageset(subset, s.device), stage2_phase(cfg, len(subset), weight_decay, world), parts,
        FitConfig(num_classes=s.real.num_classes, seed=cfg.seed, amp=cfg.amp, dist=s.dist),
        [*extra, *s.callbacks(s.run_dir / "stage2.pt")])
    for p in model.features.parameters():
        p.requires_grad_(True)


WB_WEIGHT_DECAY = 0.1   # the reference's stage-2 weight decay (demo2_second-stage-training.py)
WB_MAXNORM_THRESH = 0.1  # its MaxNorm threshold


class MaxNormStep(Callback):
    """Weight Balancing's projected gradient descent: MaxNorm's projection after every optimiser
    step (the reference projects once per epoch; every step keeps the constraint throughout)."""

    def __init__(self, maxnorm: MaxNorm):
        self.maxnorm = maxnorm

    def on_step_end(self, state, done: int) -> None:
        self.maxnorm.project()


@register_stage2("wb")
def weight_balancing(s: Stage2) -> None:
    """Weight Balancing's stage 2 (ShadeAlsha/LTR-weight-balancing, demo2 + utils/trainval.py): only the
    classifier's parameters, on all of `tuning` (the imbalanced training set), with the model in
    `train()` mode as the reference's train_model (BatchNorm statistics keep moving), class-balanced
    cross-entropy (effective number, beta 0.9999), weight decay 0.1 and MaxNorm (thresh 0.1); the cap
    is set from the stage-1 classifier before stage 2 (and before a resumed stage 2 loads its
    checkpoint). Deviations: the reference's class-balanced "softmax" loss is a binary cross-entropy on
    softmax outputs, this is Cui et al.'s softmax cross-entropy with the same class weights; it projects
    once per epoch, this after every step; it keeps the epoch with the best TEST accuracy, this the last."""
    loss_fn = LOSSES["reweighted-ce"](class_counts=s.tuning.class_counts())
    maxnorm = MaxNorm(s.model.classifier, thresh=WB_MAXNORM_THRESH)
    fit_last_layer(s, s.tuning, loss_fn, WB_WEIGHT_DECAY, (MaxNormStep(maxnorm),), batchnorm="train")


weight_balancing.heads = ("linear",)  # MaxNorm caps a linear layer's class rows


def dfr_data(val: ImageSet) -> None:
    if not val.has_groups:
        raise ConfigError("DFR needs a validation split with group labels (e.g. Waterbirds split 1)")


@register_stage2("dfr")
def dfr(s: Stage2) -> None:
    """DFR: re-fit the last layer on group-balanced validation embeddings (the C tuned on validation
    data, as published); one fit broadcast to every rank, written as stage2.pt + dfr.json."""
    cfg, val = s.cfg, s.tuning
    dfr_data(val)
    emb = lambda ds: predict(s.model, TensorData.from_imageset(ds, s.device), s.normalize,  # noqa: E731
                             cfg.eval_batch_size, features=True, view=lambda x: center_crop(x, cfg.crop_size))
    info = fit_dfr(emb(s.real), emb(val), val.labels, val.cells(), s.real.num_classes, seed=cfg.seed,
                   n_refits=cfg.dfr_refits)
    apply_linear(s.model.classifier, info["weight"], info["bias"])
    distributed.broadcast_module(s.model.classifier, s.dist)  # one fit for every rank
    if s.dist.is_main:
        save_checkpoint(s.run_dir / "stage2.pt", s.model, None, 0, dfr_C=float(info["C"]))
        write_json(s.run_dir / "dfr.json", {"C": info["C"], "tuning_worst_group": info["scores"]})


dfr.check_data = dfr_data  # run on the tuning data before stage 1 (`train_method`'s checks)
