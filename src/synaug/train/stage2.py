"""Stage-2 recipes: what happens to a trained network's last layer, and on which real images.
A method names one recipe (`Method.stage2`) and one data source (`Method.stage2_data`); adding a
recipe is one `@register_stage2` here.

- "finetune": train only the last layer on a stratum-balanced REAL subset, features frozen (SYNAuG);
- "retrain": the same, the last layer re-initialised first (Table 1 d);
- "dfr": DFR's last-layer re-fit on group-balanced validation embeddings (Kirichenko et al.).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from synaug.data.imageset import DatasetSplits, ImageSet
from synaug.errors import ConfigError
from synaug.fileio import write_json
from synaug.registry import Registry
from synaug.train import distributed
from synaug.train.augment import Normalize, center_crop
from synaug.train.config import TrainConfig
from synaug.train.dfr import apply_linear, fit_dfr
from synaug.train.loop import Callback, FitConfig, FitParts, Phase, TensorData, fit, predict, save_checkpoint
from synaug.train.losses import LOSSES
from synaug.train.mixing import BATCH_TRANSFORMS
from synaug.train.models import Classifier
from synaug.train.samplers import SAMPLERS, balanced_subset

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


@register_stage2_data("train")
def training_split(splits: DatasetSplits, real: ImageSet, method_name: str, use_groups: bool) -> ImageSet:
    return real


@register_stage2_data("val")
def validation_split(splits: DatasetSplits, real: ImageSet, method_name: str, use_groups: bool) -> ImageSet:
    """The validation split (Table 4: DFR's data)."""
    if splits.val is None:
        raise ConfigError(f"method {method_name!r} fine-tunes on a validation split, and this dataset has none")
    return splits.val if use_groups else splits.val.without_groups()


def stage2_batch_size(cfg: TrainConfig, n: int) -> int:
    """At most the subset's size, and a multiple of the number of processes under torchrun."""
    world = distributed.from_env().world
    return max(world, min(cfg.stage2_batch_size, n) // world * world)


def stage2_phase(cfg: TrainConfig, n: int) -> Phase:
    return Phase("stage2", cfg.stage2_steps, stage2_batch_size(cfg, n), cfg.stage2_lr, cfg.momentum,
                 cfg.weight_decay, cfg.nesterov, 0, "cosine", optimizer=cfg.optimizer)


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
    cfg, model = s.cfg, s.model
    idx = balanced_subset(s.tuning.labels, cfg.stage2_per_class, cfg.seed, s.tuning.cells())
    subset = s.tuning.subset(idx)
    checkpoint = s.run_dir / "stage2.pt"
    if reinit and not (s.resume and checkpoint.is_file()):
        torch.manual_seed(cfg.seed + 1)
        model.classifier.reset_parameters()
    for p in model.features.parameters():
        p.requires_grad_(False)
    sampler = SAMPLERS["shuffle"](n=len(subset), batch_size=stage2_batch_size(cfg, len(subset)), seed=cfg.seed + 1)
    parts = FitParts(model.classifier.parameters(), sampler, s.augment, s.normalize,
                     BATCH_TRANSFORMS["none"](), LOSSES["ce"](), train_modules=[model.classifier])
    fit(model, TensorData.from_imageset(subset, s.device), stage2_phase(cfg, len(subset)), parts,
        FitConfig(num_classes=s.real.num_classes, seed=cfg.seed, amp=cfg.amp), s.callbacks(checkpoint))
    for p in model.features.parameters():
        p.requires_grad_(True)
    return idx


@register_stage2("dfr")
def dfr(s: Stage2) -> None:
    """DFR: re-fit the last layer on group-balanced validation embeddings (the C tuned on validation
    data, as published); one fit broadcast to every rank, written as stage2.pt + dfr.json."""
    cfg, val = s.cfg, s.tuning
    if not val.has_groups:
        raise ConfigError("DFR needs a validation split with group labels (e.g. Waterbirds split 1)")
    emb = lambda ds: predict(s.model, TensorData.from_imageset(ds, s.device), s.normalize,  # noqa: E731
                             cfg.eval_batch_size, features=True, view=lambda x: center_crop(x, cfg.crop_size))
    info = fit_dfr(emb(s.real), emb(val), val.labels, val.cells(), s.real.num_classes, seed=cfg.seed,
                   n_refits=cfg.dfr_refits)
    apply_linear(s.model.classifier, info["weight"], info["bias"])
    distributed.broadcast_module(s.model.classifier, distributed.current())  # one fit for every rank
    if distributed.current().is_main:
        save_checkpoint(s.run_dir / "stage2.pt", s.model, None, 0, dfr_C=float(info["C"]))
        write_json(s.run_dir / "dfr.json", {"C": info["C"], "tuning_worst_group": info["scores"]})
