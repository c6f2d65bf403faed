"""`audit(...)`: per cell (class, or class x group), will its synthetic images help?

Everything is measured on the TRAINING data: a seeded, stratified validation split is carved from
it (`carve_validation`); the test set is never read. Features come from a short class-balanced
run of synaug's own training on the carved training part (`ce-rs`), or from a user's pretrained
backbone. Per cell (definitions in `synaug.audit.metrics`):

- transfer: recall on the cell's real VALIDATION images of a probe trained on synthetic images
  only, and the cells those images were mistaken for;
- fidelity: share of the cell's synthetic images that a probe trained on the class-balanced real
  training part assigns to their own cell;
- gap: real-vs-synthetic linear-probe accuracy (0.5 = indistinguishable);
- precision / recall (k-NN manifolds, k = 3), duplicate and copy rates.

`score` (what budgets act on by default) is the transfer recall.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from numbers import Real
from pathlib import Path

import numpy as np

from synaug.audit import metrics as M
from synaug.audit.report import write_outputs
from synaug.audit.verdict import add_verdicts
from synaug.cells import cell_tag
from synaug.constraints import NONNEG, NONNEG_INT, POSITIVE_INT, SIDE, TEXT, Interval, check_fields
from synaug.data.imageset import DatasetSplits, ImageSet
from synaug.data.readers import read_csv_rows, read_metadata_csv
from synaug.data.splits import carve_validation
from synaug.errors import ConfigError, SynaugError
from synaug.training.augment import Normalize
from synaug.training.config import TrainConfig
from synaug.training.loop import TensorData, predict, resolve_device
from synaug.training.methods import get_method
from synaug.training.pipeline import build_classifier, fit_normalize, train_method

AUDIT_VERSION = 1
FEATURE_MODEL = "audit-cnn"  # registered in synaug.training.models
METRICS = ("score", "transfer", "fidelity", "gap", "precision", "recall", "duplicate_rate", "copy_rate")


AUDIT_CONSTRAINTS = {"val_fraction": (Interval(Real, 0, 1, closed="neither"),), "seed": (NONNEG_INT,),
                     "k": (POSITIVE_INT,), "steps": (POSITIVE_INT,), "batch_size": (POSITIVE_INT,),
                     "probe_cap": (POSITIVE_INT,), "examples": (POSITIVE_INT,), "image_size": (SIDE, None),
                     "dup_factor": (NONNEG,), "model": (TEXT,), "device": (TEXT,)}


@dataclass
class AuditConfig:
    val_fraction: float = 0.2    # share of every real training cell held out for transfer
    seed: int = 0                # validation split, feature network, probes
    k: int = 3                   # k-NN manifolds (Kynkaanniemi et al. 2019)
    steps: int = 150             # feature network: class-balanced training steps (small-cnn, CPU-friendly)
    batch_size: int = 64         # feature network batch
    model: str = FEATURE_MODEL   # feature network when no --pretrained backbone is given
    pretrained: str | None = None  # a user's backbone checkpoint: features from it, no training
    image_size: int | None = None  # on-disk datasets: decode side
    dup_factor: float = 0.1      # near-duplicate: closer than this x the median real-real NN distance
    probe_cap: int = 300         # transfer probe: at most this many synthetic images per cell
    examples: int = 6            # images per cell shown in the report (real, worst, best)
    device: str = "auto"

    def __post_init__(self):
        check_fields(self, AUDIT_CONSTRAINTS, "audit")
        if self.pretrained and not Path(self.pretrained).is_file():
            raise ConfigError(f"--pretrained {self.pretrained}: no such file")


def feature_extractor(real_train: ImageSet, cfg: AuditConfig, run_dir: Path, progress: bool = False):
    """images (ImageSet) -> features (N, D). Trains `ce-rs` for `cfg.steps` steps on `real_train`
    (the carved training part), or loads `cfg.pretrained` into `cfg.model`'s backbone."""
    tcfg = TrainConfig(model=cfg.model, steps=cfg.steps, batch_size=cfg.batch_size, seed=cfg.seed, device=cfg.device,
                       warmup=0.1, stage2_steps=1, checkpoint_every=10**9,
                       image_size=cfg.image_size,
                       pretrained=cfg.pretrained, normalize="fit")
    if cfg.pretrained:
        # ImageNet statistics for an RGB backbone; grey images are normalised by their own statistics
        device = resolve_device(cfg.device)
        rgb = real_train.image_shape[2] == 3
        normalize = Normalize.imagenet() if rgb else fit_normalize(tcfg, real_train)
        model, view = build_classifier(tcfg, real_train, device), (lambda x: x)
    else:
        splits = DatasetSplits(train=real_train, test=real_train)
        trained = train_method(get_method("ce-rs"), splits, tcfg, run_dir, progress=progress)
        model, normalize, view, device = trained.model, trained.normalize, trained.view, trained.device
    model.eval()

    def extract(ds: ImageSet) -> np.ndarray:
        if len(ds) == 0:
            return np.zeros((0, model.feature_dim), np.float32)
        return predict(model, TensorData.from_imageset(ds, device), normalize, 512, features=True, view=view)
    return extract


def _transfer(c_val: np.ndarray, pred: np.ndarray | None, cell: int) -> tuple:
    """(recall, confusions, false-alarm rate) of the synthetic-only probe for `cell` (None without a probe)."""
    if pred is None:
        return None, [], None
    recall, confused = M.recall_and_confusions(c_val, pred, cell)
    return recall, confused, M.false_alarm(c_val, pred, cell)


def _opt(x):
    return None if x is None else float(x)


def audit_cells(real: ImageSet, synthetic: ImageSet, extract, cfg: AuditConfig,
                syn_names: list[str] | None = None) -> dict:
    """The audit of `synthetic` against `real` (both keyed by `cells()`); `extract` maps an ImageSet
    to features. Returns {"cells": [...], "images": [...], "split": {...}}."""
    t0 = time.time()
    cells, syn_cells = real.cells(), synthetic.cells()
    names, keys = real.cell_names(), real.cell_space.keys()
    train_idx, val_idx = carve_validation(cells, cfg.val_fraction, cfg.seed)
    f_train, f_val = extract(real.subset(train_idx)), extract(real.subset(val_idx))
    f_syn = extract(synthetic)
    t_feat = time.time()
    f_real = np.zeros((len(real), f_train.shape[1]), np.float32)
    f_real[train_idx], f_real[val_idx] = f_train, f_val
    c_train, c_val = cells[train_idx], cells[val_idx]

    # label fidelity: a probe on the class-balanced real training part, applied to synthetic images
    fid_clf = M.probe(f_train, c_train, cfg.seed, class_weight="balanced")
    own_prob, assigned = (M.own_cell_probability(fid_clf, f_syn, syn_cells) if len(f_syn)
                          else (np.zeros(0), np.zeros(0, np.int64)))
    # transfer: a probe on synthetic images only, evaluated on the real validation part
    transfer_pred = None
    if len(np.unique(syn_cells)) >= 2:
        fit_idx = M.cap_per_stratum(syn_cells, cfg.probe_cap, cfg.seed)
        transfer_pred = M.probe(f_syn[fit_idx], syn_cells[fit_idx], cfg.seed).predict(f_val)

    ratio = np.full(len(synthetic), np.inf)
    rows = []
    for c in range(len(names)):
        rmask, smask = cells == c, syn_cells == c
        n_real, n_syn = int(rmask.sum()), int(smask.sum())
        row = dict(cell=c, key=cell_tag(keys[c]), name=names[c], real=n_real, real_val=int((c_val == c).sum()), synthetic=n_syn)
        transfer, confused, alarm = _transfer(c_val, transfer_pred, c) if n_syn else (None, [], None)
        row.update(transfer=_opt(transfer), false_alarm=_opt(alarm),
                   confused_with=[dict(cell=o, name=names[o], share=s) for o, s in confused])
        row["fidelity"] = float((assigned[smask] == c).mean()) if n_syn else None
        fid_conf = []
        if n_syn:
            others, counts = np.unique(assigned[smask][assigned[smask] != c], return_counts=True)
            fid_conf = [dict(cell=int(o), name=names[int(o)], share=float(n / n_syn))
                        for o, n in sorted(zip(others, counts), key=lambda t: -t[1])[:3]]
        row["assigned_to"] = fid_conf
        row["gap"] = _opt(M.domain_gap(f_real[rmask], f_syn[smask], cfg.seed)) if n_syn else None
        pr = M.knn_precision_recall(f_real[rmask], f_syn[smask], cfg.k)
        ratio[smask] = pr["ratio"]
        row.update(precision=_opt(pr["precision"]), recall=_opt(pr["recall"]))
        row.update(M.near_duplicates(f_real[rmask], f_syn[smask], cfg.dup_factor) if n_syn
                   else dict(duplicate_rate=None, copy_rate=None))
        row["score"] = row["transfer"]
        rows.append(row)
    add_verdicts(rows)
    images = [dict(index=i, file_name=(syn_names[i] if syn_names else str(i)), cell=int(syn_cells[i]),
                   own_prob=float(own_prob[i]), assigned=int(assigned[i]),
                   manifold_ratio=float(ratio[i]) if np.isfinite(ratio[i]) else None)
              for i in range(len(synthetic))]
    split = dict(train=int(len(train_idx)), val=int(len(val_idx)), fraction=cfg.val_fraction, seed=cfg.seed,
                 note="validation carved from the training data; the test set is not read")
    timing = dict(features_s=round(t_feat - t0, 2), metrics_s=round(time.time() - t_feat, 2))
    return dict(cells=rows, images=images, split=split, timing=timing, val_index=val_idx.tolist())


def audit_dataset(splits: DatasetSplits, synthetic: ImageSet, out_dir: Path, cfg: AuditConfig, *,
                  dataset: str = "", synthetic_dir: str = "", syn_names: list[str] | None = None,
                  use_groups: bool = True, progress: bool = False) -> dict:
    """Audit and write OUT/audit.json, OUT/audit.csv, OUT/images.csv and OUT/audit.html."""
    t0 = time.time()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    real = splits.train
    grouped = use_groups and real.has_groups and synthetic.has_groups
    if not grouped:
        real, synthetic = real.without_groups(), synthetic.without_groups()
    extract = feature_extractor(_training_part(real, cfg), cfg, out_dir / "feature-net", progress)
    result = audit_cells(real, synthetic, extract, cfg, syn_names)
    result.update(version=AUDIT_VERSION, dataset=dataset, dataset_info=splits.info, synthetic_dir=synthetic_dir,
                  cell_kind="class x group" if grouped else "class", config=asdict(cfg),
                  features="pretrained " + str(cfg.pretrained) if cfg.pretrained else
                  f"{cfg.model} trained {cfg.steps} steps (ce-rs) on the carved training part")
    result["timing"]["total_s"] = round(time.time() - t0, 2)
    write_outputs(result, real, synthetic, out_dir)
    return result


def _training_part(real: ImageSet, cfg: AuditConfig) -> ImageSet:
    train_idx, _ = carve_validation(real.cells(), cfg.val_fraction, cfg.seed)
    return real.subset(train_idx)


def read_synthetic(folder, real: ImageSet, size: int | None = None) -> tuple[ImageSet, list[str]]:
    """A `synaug generate` folder as an ImageSet in `real`'s label space, with the file name of each
    row (as metadata.csv names it; unreadable images are skipped by the reader and here alike)."""
    folder = Path(folder)
    meta = folder / "metadata.csv" if folder.is_dir() else folder
    if not meta.is_file():
        raise SynaugError(f"no metadata.csv in {folder}: pass a folder made by `synaug generate` "
                          "(wait for every shard to finish)")
    H, W, C = real.image_shape
    side = size or H
    ds = read_metadata_csv(meta, class_names=real.class_names, group_names=real.group_names,
                           size=(side, side), channels=C, synthetic=True)
    skipped = {p for p, _ in ds.skipped}
    rows, _ = read_csv_rows(meta)
    names = [r["file_name"] for r in rows if str(meta.parent / r["file_name"]) not in skipped]
    if len(names) != len(ds):
        raise SynaugError(f"{meta}: {len(ds)} images read but {len(names)} rows kept; cannot name them")
    return ds, names
