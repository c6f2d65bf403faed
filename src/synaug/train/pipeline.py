"""Stage 1 + stage 2 + evaluation of one method on one seed, written to its own run directory:
config.yaml (resolved), versions.json, log.jsonl, stage1.pt / stage2.pt checkpoints, metrics.json."""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml

from synaug.data.imageset import DatasetSplits, ImageSet
from synaug.errors import RunFolderError
from synaug.metrics import longtail_metrics
from synaug.fileio import write_json
from synaug.train import distributed
from synaug.train.augment import Normalize, build_augment, center_crop
from synaug.train.config import TrainConfig
from synaug.train.loop import Phase, TensorData, fit, predict, resolve_device, save_checkpoint
from synaug.train.losses import LOSSES
from synaug.train.methods import Method
from synaug.train.mixing import BATCH_TRANSFORMS
from synaug.train.models import Classifier, build_model
from synaug.train.pretrained import load_backbone
from synaug.train.rundir import load_checkpoint, manifest_for, start_run
from synaug.train.samplers import SAMPLERS
from synaug.validate import check_train_config


def balanced_subset(labels: np.ndarray, per_class: int | None, seed: int,
                    strata: np.ndarray | None = None) -> np.ndarray:
    """Indices with the same number of samples from every stratum (class by default);
    `per_class` None = the smallest stratum's size (every stratum subsampled to it)."""
    strata = labels if strata is None else strata
    values, counts = np.unique(strata, return_counts=True)
    n = int(counts.min()) if per_class is None else min(int(per_class), int(counts.min()))
    rng = np.random.default_rng([seed, 2])
    return np.sort(np.concatenate([rng.choice(np.where(strata == v)[0], n, replace=False) for v in values]))


def package_versions() -> dict:
    import importlib.metadata as md
    out = {"python": platform.python_version()}
    for pkg in ("synaug", "torch", "numpy", "pillow", "scikit-learn", "diffusers"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


@dataclass
class TrainedModel:
    model: Classifier
    normalize: Normalize
    device: torch.device
    crop_size: int | None = None  # evaluation view: the central crop_size x crop_size window

    def view(self, x: torch.Tensor) -> torch.Tensor:
        return center_crop(x, self.crop_size)


def fit_normalize(cfg: TrainConfig, real: ImageSet) -> Normalize:
    """The input standardisation: the statistics a pretrained backbone was trained with (`imagenet`,
    and `auto` with `pretrained`), or those of the real training images (`fit`)."""
    if cfg.normalize == "imagenet" or (cfg.normalize == "auto" and cfg.pretrained):
        return Normalize.imagenet()
    return Normalize.fit(_normalisation_sample(real))


def _normalisation_sample(real: ImageSet, limit: int = 2048) -> torch.Tensor:
    """Real training images (uint8 NCHW) to fit the normalisation on: all of an in-memory set, a fixed
    sample of at most `limit` images of one cached or streamed from disk."""
    if isinstance(real.images, np.ndarray):
        images = real.images
    else:
        pick = np.sort(np.random.default_rng(0).choice(len(real), min(limit, len(real)), replace=False))
        images = real.images[pick]
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)


def stage1_phase(cfg: TrainConfig) -> Phase:
    return Phase("stage1", cfg.steps, cfg.batch_size, cfg.lr, cfg.momentum, cfg.weight_decay, cfg.nesterov,
                 cfg.warmup_steps, cfg.schedule, tuple(cfg.milestones), cfg.gamma, cfg.optimizer, cfg.compile)


def stage2_batch_size(cfg: TrainConfig, n: int) -> int:
    """At most the subset's size, and a multiple of the number of processes under torchrun."""
    world = distributed.from_env().world
    return max(world, min(cfg.stage2_batch_size, n) // world * world)


def stage2_phase(cfg: TrainConfig, n: int) -> Phase:
    return Phase("stage2", cfg.stage2_steps, stage2_batch_size(cfg, n), cfg.stage2_lr, cfg.momentum,
                 cfg.weight_decay, cfg.nesterov, 0, "cosine", optimizer=cfg.optimizer)


def stem_size(cfg: TrainConfig, side: int) -> int:
    """The input side the model's stem is chosen for: the training crop, except that a pretrained
    backbone keeps the ImageNet stem its weights were trained with, whatever the images' size."""
    return 224 if cfg.pretrained else (cfg.crop_size or side)


def build_classifier(cfg: TrainConfig, real: ImageSet, device: torch.device) -> Classifier:
    """The configured model for `real`'s classes and image geometry, its backbone loaded from
    `cfg.pretrained` when given; initialised from the run's seed."""
    H, W, C = real.image_shape
    torch.manual_seed(cfg.seed)  # model initialisation
    model = build_model(cfg.model, in_channels=C, num_classes=real.num_classes, image_size=stem_size(cfg, H))
    if cfg.pretrained:
        load_backbone(model, Path(cfg.pretrained))
    return model.to(device).to(memory_format=torch.channels_last)


def train_method(method: Method, splits: DatasetSplits, cfg: TrainConfig, run_dir: Path,
                 synthetic: ImageSet | None = None, resume: bool = False, progress: bool = True) -> TrainedModel:
    """Train `method` on the real (+ synthetic) training data; stage 2 if the method has one."""
    run_dir = Path(run_dir)
    is_main = distributed.current().is_main
    check_train_config(cfg)
    if is_main:
        start_run(run_dir, manifest_for(method.name, splits.info, cfg.to_dict(),
                                        0 if synthetic is None or not method.synthetic else len(synthetic)), resume)
        (run_dir / "config.yaml").write_text(yaml.safe_dump(
            {"method": method.name, "train": cfg.to_dict(), "data": splits.info,
             "synthetic_images": 0 if synthetic is None or not method.synthetic else len(synthetic)},
            sort_keys=False))
        write_json(run_dir / "versions.json", package_versions())
        if not resume and (run_dir / "log.jsonl").exists():
            (run_dir / "log.jsonl").unlink()
    distributed.barrier(distributed.current())  # the run folder is checked and ready for every rank

    device = resolve_device(cfg.device)
    # a method that must not use the group attribute never sees it: cells become classes
    real = splits.train if method.use_groups else splits.train.without_groups()
    train_set = real
    if method.synthetic:
        if synthetic is None:
            raise ValueError(f"method {method.name!r} needs synthetic images (run `synaug generate`)")
        train_set = real.concat(synthetic if method.use_groups else synthetic.without_groups())
    model = build_classifier(cfg, real, device)
    data = TensorData.from_imageset(train_set, device)
    normalize = fit_normalize(cfg, real)
    if is_main:
        write_json(run_dir / "normalize.json", normalize.state())
    augment = build_augment(cfg, real.image_shape[0])
    sampler = SAMPLERS[method.sampler](n=len(train_set), labels=train_set.labels, cells=train_set.cells(),
                                       batch_size=cfg.batch_size, seed=cfg.seed)
    transform = BATCH_TRANSFORMS[method.transform](alpha=cfg.mixup_alpha, pairing=method.pairing)
    loss_fn = LOSSES[method.loss](class_counts=train_set.class_counts(), step_size=cfg.dro_step_size,
                                  num_cells=real.num_classes * (len(real.group_names) if real.has_groups else 1))
    common = dict(augment=augment, normalize=normalize, num_classes=real.num_classes, seed=cfg.seed,
                  resume=resume, amp=cfg.amp, progress=progress, log_path=run_dir / "log.jsonl",
                  checkpoint_every=cfg.checkpoint_every,
                  checkpoint_meta={"config": cfg.to_dict(), "method": method.name})
    fit(model, data, stage1_phase(cfg), params=model.parameters(), sampler=sampler, transform=transform,
        loss_fn=loss_fn, checkpoint=run_dir / "stage1.pt", **common)

    if method.stage2 == "dfr":
        info = dfr_last_layer(model, normalize, real, splits.val, cfg, device)
        distributed.broadcast_module(model.classifier, distributed.current())  # one fit for every rank
        if is_main:
            save_checkpoint(run_dir / "stage2.pt", model, None, 0, dfr_C=float(info["C"]))
            write_json(run_dir / "dfr.json", {"C": info["C"], "tuning_worst_group": info["scores"]})
    elif method.stage2:
        tuning = stage2_set(method, splits, real)
        finetune_last_layer(model, tuning, cfg, mode=method.stage2, run_dir=run_dir, common=common,
                            strata=tuning.cells())
    return TrainedModel(model, normalize, device, cfg.crop_size)


def stage2_set(method: Method, splits: DatasetSplits, real: ImageSet) -> ImageSet:
    """The real images stage 2 balances and trains on: the training split, or validation (Table 4)."""
    if method.stage2_data == "train":
        return real
    if method.stage2_data == "val":
        if splits.val is None:
            raise ValueError(f"method {method.name!r} fine-tunes on a validation split, and this dataset has none")
        return splits.val if method.use_groups else splits.val.without_groups()
    raise ValueError(f"unknown stage-2 data {method.stage2_data!r}; use 'train' or 'val'")


def dfr_last_layer(model: Classifier, normalize: Normalize, train: ImageSet, val: ImageSet | None,
                   cfg: TrainConfig, device) -> dict:
    """Stage 2 of DFR: re-fit the last layer on group-balanced validation embeddings."""
    from synaug.train.dfr import apply_linear, fit_dfr

    if val is None or not val.has_groups:
        raise ValueError("DFR needs a validation split with group labels (e.g. Waterbirds split 1)")
    emb = lambda ds: predict(model, TensorData.from_imageset(ds, device), normalize,  # noqa: E731
                             cfg.eval_batch_size, features=True, view=lambda x: center_crop(x, cfg.crop_size))
    info = fit_dfr(emb(train), emb(val), val.labels, val.cells(), train.num_classes, seed=cfg.seed,
                   n_refits=cfg.dfr_refits)
    apply_linear(model.classifier, info["weight"], info["bias"])
    return info


def finetune_last_layer(model: Classifier, real: ImageSet, cfg: TrainConfig, mode: str, run_dir: Path,
                        common: dict, strata: np.ndarray | None = None) -> np.ndarray:
    """Stage 2: train only `model.classifier` on a balanced REAL subset; features frozen (eval mode,
    no gradients). mode "finetune" keeps the stage-1 layer, "retrain" re-initialises it."""
    if mode not in ("finetune", "retrain"):
        raise ValueError(f"unknown stage-2 mode {mode!r}; use 'finetune' or 'retrain'")
    idx = balanced_subset(real.labels, cfg.stage2_per_class, cfg.seed, strata)
    subset = real.subset(idx)
    device = next(model.parameters()).device
    stage2_ckpt = run_dir / "stage2.pt"
    if mode == "retrain" and not (common.get("resume") and stage2_ckpt.is_file()):
        torch.manual_seed(cfg.seed + 1)
        model.classifier.reset_parameters()
    for p in model.features.parameters():
        p.requires_grad_(False)
    data = TensorData.from_imageset(subset, device)
    sampler = SAMPLERS["shuffle"](n=len(subset), batch_size=stage2_batch_size(cfg, len(subset)),
                                  seed=cfg.seed + 1)
    fit(model, data, stage2_phase(cfg, len(subset)), params=model.classifier.parameters(), sampler=sampler,
        transform=BATCH_TRANSFORMS["none"](), loss_fn=LOSSES["ce"](), train_modules=[model.classifier],
        checkpoint=stage2_ckpt, **common)
    for p in model.features.parameters():
        p.requires_grad_(True)
    return idx


def evaluate_model(trained: TrainedModel, test: ImageSet, train_counts, many: int = 100, few: int = 20,
                   batch_size: int = 1024, train_cells=None) -> dict:
    """Every metric that applies: long-tail metrics always; with groups, per-cell accuracy (worst,
    mean, mean weighted by `train_cells` proportions) and, for a binary label, the fairness gaps
    with the group as the sensitive attribute."""
    data = TensorData.from_imageset(test, trained.device)
    logits = predict(trained.model, data, trained.normalize, batch_size, view=trained.view)
    pred = logits.argmax(1)
    metrics = longtail_metrics(test.labels, pred, train_counts, many, few)
    if test.has_groups:
        metrics.update(group_metrics(test, pred, train_cells))
    metrics["predictions"] = pred.tolist()
    return metrics


def group_metrics(test: ImageSet, pred: np.ndarray, train_cells=None) -> dict:
    from synaug.metrics import fairness_gaps, group_accuracy

    cells = group_accuracy(test.labels, pred, test.cells(), train_cells)
    names = test.cell_names()
    out = {"worst_group": cells["worst"], "mean_group": cells["mean"],
           "mean_weighted": cells.get("mean_weighted"),
           "per_cell": {names[c]: a for c, a in cells["per_group"].items()},
           "per_group": {test.group_names[g]: a for g, a in
                         group_accuracy(test.labels, pred, test.groups)["per_group"].items()}}
    if test.num_classes == 2:
        gaps = fairness_gaps(test.labels, pred, test.groups)
        out.update(dp=gaps["dp"], eo=gaps["eo"], ed=gaps["ed"],
                   ed_mean=fairness_gaps(test.labels, pred, test.groups, agg="mean")["ed"])
    return out


def load_trained(run_dir: Path, num_classes: int, in_channels: int, image_size: int,
                 device: str = "auto") -> TrainedModel:
    """Rebuild a model from a run directory (its final checkpoint), weights_only=True."""
    run_dir = Path(run_dir)
    normalize = Normalize(**json.loads((run_dir / "normalize.json").read_text()))
    cfg = TrainConfig.from_dict(yaml.safe_load((run_dir / "config.yaml").read_text())["train"])
    dev = resolve_device(device)
    model = build_model(cfg.model, in_channels=in_channels, num_classes=num_classes,
                        image_size=stem_size(cfg, image_size))
    ckpt = run_dir / ("stage2.pt" if (run_dir / "stage2.pt").is_file() else "stage1.pt")
    try:
        model.load_state_dict(load_checkpoint(ckpt, dev)["model"])
    except RuntimeError as exc:  # shapes differ: another dataset's classes or channels
        raise RunFolderError(f"{ckpt} does not fit this dataset ({num_classes} classes, {in_channels} channel(s)): "
                             f"{str(exc).splitlines()[0][:200]}") from exc
    return TrainedModel(model.to(dev).to(memory_format=torch.channels_last).eval(), normalize, dev, cfg.crop_size)
