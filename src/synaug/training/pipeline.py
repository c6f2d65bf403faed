"""Stage 1 + stage 2 of one method on one seed, written to its own run directory (whose identity,
job.json, the engine wrote): config.yaml (resolved), versions.json, normalize.json, log.jsonl, stage1.pt
/ stage2.pt checkpoints. Evaluation (metrics.json, predictions.npz) is the engine's."""

from __future__ import annotations

import functools
import json
import platform
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml

from synaug.audit.weighting import read_scores, weighted_by_audit
from synaug.data.imageset import DatasetSplits, ImageSet
from synaug.devices import check_available
from synaug.errors import ConfigError, RunFolderError
from synaug.fileio import atomic_write_text, write_json
from synaug.registry import UnknownName
from synaug.training import distributed
from synaug.training.distributed import Dist
from synaug.training.augment import Normalize, build_augment, center_crop
from synaug.training.config import TrainConfig
from synaug.training.loop import (Callback, Checkpoint, FitConfig, FitParts, JsonlLog, Phase, ProgressBar, TensorData,
                               fit, resolve_device)
from synaug.training.losses import LOSSES
from synaug.training.methods import Method, get_method
from synaug.training.mixing import BATCH_TRANSFORMS
from synaug.training.models import Classifier, build_model
from synaug.training.preprocess import PREPROCESS, preprocess_record
from synaug.training.pretrained import backbone_state, load_backbone
from synaug.training.rundir import first_line, load_checkpoint, start_run
from synaug.training.samplers import SAMPLERS
from synaug.training.stage2 import STAGE2, STAGE2_DATA, Stage2


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


def normalize_kind(cfg: TrainConfig) -> str:
    """`normalize: auto` resolved: imagenet with a pretrained backbone, else fit."""
    if cfg.normalize == "auto":
        return "imagenet" if cfg.pretrained else "fit"
    return cfg.normalize


def fit_normalize(cfg: TrainConfig, real: ImageSet) -> Normalize:
    """The input standardisation: the statistics a pretrained backbone was trained with (`imagenet`,
    and `auto` with `pretrained`), or those of the real training images (`fit`)."""
    if normalize_kind(cfg) == "imagenet":
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
    return Phase(name="stage1", steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr, momentum=cfg.momentum,
                 weight_decay=cfg.weight_decay, nesterov=cfg.nesterov, warmup_steps=cfg.warmup_steps,
                 schedule=cfg.schedule, milestones=tuple(cfg.milestones), gamma=cfg.gamma, optimizer=cfg.optimizer,
                 compile=cfg.compile, hint=f"Lower lr (--lr, now {cfg.lr:g}) or lengthen the warm-up (--warmup, now "
                 f"{cfg.warmup:g} of the steps = {cfg.warmup_steps} steps).")


def stem_size(cfg: TrainConfig, side: int) -> int:
    """The input side the model's stem is chosen for: the training crop, except that a pretrained
    backbone keeps the ImageNet stem its weights were trained with, whatever the images' size."""
    return 224 if cfg.pretrained else (cfg.crop_size or side)


def build_classifier(cfg: TrainConfig, real: ImageSet, device: torch.device, head: str = "linear") -> Classifier:
    """The configured model for `real`'s classes and image geometry with the method's `head`, its
    backbone loaded from `cfg.pretrained` when given; initialised from the run's seed."""
    H, W, C = real.image_shape
    torch.manual_seed(cfg.seed)  # model initialisation
    model = build_model(cfg.model, in_channels=C, num_classes=real.num_classes, image_size=stem_size(cfg, H),
                        head=head)
    if cfg.pretrained:
        load_backbone(model, Path(cfg.pretrained))
    return model.to(device).to(memory_format=torch.channels_last)


def train_method(method: Method, splits: DatasetSplits, cfg: TrainConfig, run_dir: Path,
                 synthetic: ImageSet | None = None, resume: bool = False, progress: bool = True,
                 dist: Dist = Dist()) -> TrainedModel:
    """Train `method` on the real (+ synthetic) training data; stage 2 if the method has one. Under
    torchrun (`dist`) every rank trains its slice of each batch and rank 0 alone writes."""
    run_dir = Path(run_dir)
    check_before_training(method, splits, cfg, splits.train.image_shape[0])
    cfg = method_config(method, cfg)
    if dist.is_main:
        write_run_files(run_dir, method, splits, cfg, synthetic, resume)
    distributed.barrier(dist)  # the run folder is checked and ready for every rank

    device = resolve_device(cfg.device, dist)
    # a method that must not use the group attribute never sees it: cells become classes
    real = splits.train if method.use_groups else splits.train.without_groups()
    train_set = real
    if method.synthetic:
        if synthetic is None:
            raise ConfigError(f"method {method.name!r} needs synthetic images (run `synaug generate`)")
        train_set = real.concat(synthetic if method.use_groups else synthetic.without_groups())
    model = build_classifier(cfg, real, device, head=method.head)
    data = TensorData.from_imageset(train_set, device)
    normalize = fit_normalize(cfg, real)
    if dist.is_main:
        write_json(run_dir / "normalize.json", normalize.state())
        write_json(run_dir / PREPROCESS, preprocess_record(cfg, real, normalize, method.head))
    augment = build_augment(cfg, real.image_shape[0])
    sampler, transform, loss_fn = method_parts(method, train_set, real, cfg)
    parts = FitParts(model.parameters(), sampler, augment, normalize, transform, loss_fn)
    callbacks = lambda checkpoint: fit_callbacks(cfg, method, run_dir, checkpoint, resume, progress)  # noqa: E731
    fit(model, data, stage1_phase(cfg), parts,
        FitConfig(num_classes=real.num_classes, seed=cfg.seed, amp=cfg.amp, dist=dist), callbacks(run_dir / "stage1.pt"))
    if method.stage2:
        tuning = STAGE2_DATA[method.stage2_data](splits, real, method.name, method.use_groups)
        STAGE2[method.stage2](Stage2(model, normalize, augment, real, tuning, cfg, device, run_dir, resume, callbacks,
                                     dist))
    return TrainedModel(model, normalize, device, cfg.crop_size)


def check_before_training(method: Method, splits: DatasetSplits, cfg: TrainConfig, side: int) -> None:
    """What depends only on the inputs, checked before a run folder is claimed or a step is taken
    (`synaug.engine.execute.run_job` calls it first; `train_method` again): the device is on this
    machine, the stage-2 recipe fits the method's head and has the data it needs (a validation split,
    with groups for DFR), the model takes the images (`side` px, their channels) and the
    `--pretrained` checkpoint fits it, an audit to weight by is there."""
    cfg = method_config(method, cfg)
    check_available("training option device", cfg.device)  # a config file's device: the flag's check
    recipe = STAGE2[method.stage2] if method.stage2 else None  # an unknown recipe fails here
    if method.head not in getattr(recipe, "heads", (method.head,)):  # e.g. WB's MaxNorm needs a linear layer
        raise ConfigError(f"method {method.name!r}: stage 2 {method.stage2!r} works on a {' or '.join(recipe.heads)} "
                          f"head, not {method.head!r}")
    real = splits.train if method.use_groups else splits.train.without_groups()
    if recipe is not None:
        tuning = STAGE2_DATA[method.stage2_data](splits, real, method.name, method.use_groups)
        getattr(recipe, "check_data", lambda data: None)(tuning)
    check_model_takes(cfg.model, real.image_shape[2], real.num_classes, stem_size(cfg, side), method.head)
    if cfg.pretrained:
        with torch.device("meta"):  # keys and shapes only: no memory, no initialisation
            model = build_model(cfg.model, in_channels=real.image_shape[2], num_classes=real.num_classes,
                                image_size=stem_size(cfg, side), head=method.head)
        backbone_state(model, Path(cfg.pretrained))
    if cfg.synthetic_weighting == "audit" and cfg.audit:
        read_scores(cfg.audit)


@functools.lru_cache(maxsize=64)
def check_model_takes(model: str, in_channels: int, num_classes: int, image_size: int, head: str) -> None:
    """A model that cannot take the images (a ViT's fixed 224 px, a stem for RGB only, pooling that
    shrinks them to nothing) is refused here, built on the meta device (shapes only: no memory, no
    initialisation); once per geometry, as a sweep checks every job before the first is trained."""
    with torch.device("meta"):
        build_model(model, in_channels=in_channels, num_classes=num_classes, image_size=image_size, head=head)


def method_config(method: Method, cfg: TrainConfig) -> TrainConfig:
    """`cfg` with the method's own training settings (`Method.train`) on top; the run records it."""
    if not method.train:
        return cfg
    return TrainConfig.from_dict({**cfg.to_dict(), **dict(method.train)})


def method_parts(method: Method, train_set: ImageSet, real: ImageSet, cfg: TrainConfig) -> tuple:
    """The sampler, batch transform and loss `method` declares, built for `train_set`; each
    registry's factory takes what it needs of the data's facts and refuses unknown options."""
    facts = dict(n=len(train_set), labels=train_set.labels, cells=train_set.cells(),
                 class_counts=train_set.class_counts(), batch_size=cfg.batch_size, seed=cfg.seed,
                 num_cells=real.num_cells, step_size=cfg.dro_step_size, alpha=cfg.mixup_alpha,
                 pairing=method.pairing)
    sampler, transform = SAMPLERS.create(method.sampler, facts), BATCH_TRANSFORMS.create(method.transform, facts)
    if sampler.images_per_sample != transform.images_per_sample:  # e.g. CMO's sampler with Mixup
        raise ConfigError(f"method {method.name!r}: sampler {method.sampler!r} draws {sampler.images_per_sample} "
                          f"image(s) per sample, batch transform {method.transform!r} takes "
                          f"{transform.images_per_sample}; CMO needs both its sampler and its transform")
    if cfg.synthetic_weighting != "none" and sampler.images_per_sample != 1:
        raise ConfigError(f"method {method.name!r}: synthetic_weighting: audit re-weights single draws; "
                          "it does not combine with CMO's paired draws")
    return weighted_by_audit(sampler, train_set, cfg), transform, LOSSES.create(method.loss, facts)


def fit_callbacks(cfg: TrainConfig, method: Method, run_dir: Path, checkpoint: Path, resume: bool,
                  progress: bool) -> list[Callback]:
    """Checkpoint (first: a resumed run sets the step the others start from), step log, progress."""
    meta = {"config": cfg.to_dict(), "method": method.name}
    return [Checkpoint(checkpoint, cfg.checkpoint_every, meta, resume=resume), JsonlLog(run_dir / "log.jsonl"),
            ProgressBar(progress)]


def write_run_files(run_dir: Path, method: Method, splits: DatasetSplits, cfg: TrainConfig,
                    synthetic: ImageSet | None, resume: bool) -> None:
    """config.yaml, versions.json (the run's identity, job.json, is the engine's); a fresh run's step
    log starts empty."""
    n_synthetic = 0 if synthetic is None or not method.synthetic else len(synthetic)
    start_run(run_dir, resume)
    atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(
        {"method": method.name, "train": cfg.to_dict(), "resolved": cfg.resolved(normalize_kind(cfg)),
         "data": splits.info, "synthetic_images": n_synthetic}, sort_keys=False))
    write_json(run_dir / "versions.json", package_versions())
    if not resume and (run_dir / "log.jsonl").exists():
        (run_dir / "log.jsonl").unlink()


def load_trained(run_dir: Path, num_classes: int, in_channels: int, image_size: int,
                 device: str = "auto") -> TrainedModel:
    """Rebuild a model from a run directory (its final checkpoint), weights_only=True."""
    run_dir = Path(run_dir)
    normalize = Normalize(**json.loads((run_dir / "normalize.json").read_text()))
    run_config = yaml.safe_load((run_dir / "config.yaml").read_text())
    cfg = TrainConfig.from_record(run_config["train"])
    dev = resolve_device(device)
    try:  # a run of a method no longer registered: the linear head every method had before heads
        head = get_method(run_config["method"]).head if run_config.get("method") else "linear"
    except UnknownName:
        head = "linear"
    model = build_model(cfg.model, in_channels=in_channels, num_classes=num_classes,
                        image_size=stem_size(cfg, image_size), head=head)
    ckpt = run_dir / ("stage2.pt" if (run_dir / "stage2.pt").is_file() else "stage1.pt")
    try:
        model.load_state_dict(load_checkpoint(ckpt, dev)["model"])
    except RuntimeError as exc:  # shapes differ: another dataset's classes or channels
        raise RunFolderError(f"{ckpt} does not fit this dataset ({num_classes} classes, {in_channels} channel(s)): "
                             f"{first_line(exc)}") from exc
    return TrainedModel(model.to(dev).to(memory_format=torch.channels_last).eval(), normalize, dev, cfg.crop_size)
