"""How good are a generator's images, in numbers a reader can check: `image_quality(synthetic, real, test)`.

- CAS, the Classification Accuracy Score (Ravuri & Vinyals 2019): a classifier trained on the synthetic
  images ONLY, tested on the real test split; beside it the same classifier (same network, steps and
  seed) trained on as many real images per cell (`real_score`), and their ratio. The classifier is
  synaug's own `ce` training of the `audit-cnn` network (`QualityConfig.steps` steps).
- Fréchet distance (FID's formula, Heusel et al. 2017) between the test split's and the synthetic
  images' features, and the same distance for the real images (`frechet_distance_real`: the floor a
  perfect generator would reach with this many images). The features are the audit's feature network
  (`synaug.audit.core.feature_extractor`: `audit-cnn` trained with `ce-rs` on the real images for
  `feature_steps` steps), not Inception: FID values here compare generators of one dataset only.
- the audit's copy rate (`synaug.audit.metrics.near_duplicates`: synthetic images closer to a real one
  than 0.1 x the median real-to-real nearest distance) and per-cell k-NN recall
  (`knn_precision_recall`, k = 3): the share of a cell's real images inside the synthetic manifold.
"""

from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import linalg

from synaug.audit import metrics as M
from synaug.audit.core import FEATURE_MODEL, AuditConfig, feature_extractor
from synaug.data.imageset import DatasetSplits, ImageSet
from synaug.plans import first_per_cell
from synaug.training.config import TrainConfig
from synaug.training.loop import TensorData, predict
from synaug.training.methods import get_method
from synaug.training.pipeline import train_method


@dataclass(frozen=True)
class QualityConfig:
    steps: int = 300           # CAS classifier: training steps (the same for synthetic and real)
    feature_steps: int = 150   # the audit's feature network: training steps
    batch_size: int = 64
    k: int = 3                 # k-NN manifolds of the recall
    seed: int = 0
    device: str = "auto"


def frechet_distance(a: np.ndarray, b: np.ndarray, eps: float = 1e-6) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) of two feature sets (rows: samples), the
    square root by scipy.linalg.sqrtm (its tiny imaginary part from rounding dropped). Features of a small
    network are often degenerate (dead units, fewer samples than features), so the covariances can be
    singular; sqrtm then warns, and where its result is not finite `eps` is added to both diagonals and it
    is taken again, as pytorch-fid does."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linalg.LinAlgWarning)  # singular: handled below
        root = linalg.sqrtm(cov_a @ cov_b)
        if not np.isfinite(root).all():
            offset = eps * np.eye(len(cov_a))
            root = linalg.sqrtm((cov_a + offset) @ (cov_b + offset))
    root = root.real if np.iscomplexobj(root) else root
    value = float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2 * root))
    return max(value, 0.0)  # rounding can leave a tiny negative value for identical sets


def classifier_score(train: ImageSet, test: ImageSet, cfg: QualityConfig) -> dict:
    """{"accuracy", "balanced_accuracy", "per_class"} (%) on `test` of synaug's `ce` classifier
    (`audit-cnn`) trained on `train` alone."""
    tcfg = TrainConfig(model=FEATURE_MODEL, steps=cfg.steps, batch_size=cfg.batch_size, seed=cfg.seed,
                       device=cfg.device, warmup=0.1, stage2_steps=1, checkpoint_every=10**9, normalize="fit")
    with tempfile.TemporaryDirectory(prefix="synaug-cas-") as run_dir:
        trained = train_method(get_method("ce"), DatasetSplits(train=train, test=test), tcfg, Path(run_dir),
                               progress=False)
        logits = predict(trained.model, TensorData.from_imageset(test, trained.device), trained.normalize, 512,
                         view=trained.view)
    pred = logits.argmax(1)
    per_class = [float(100 * np.mean(pred[test.labels == c] == c)) if np.any(test.labels == c) else None
                 for c in range(test.num_classes)]
    present = [r for r in per_class if r is not None]
    return {"accuracy": float(100 * np.mean(pred == test.labels)), "balanced_accuracy": float(np.mean(present)),
            "per_class": dict(zip(test.class_names, per_class))}


def as_many_real(real: ImageSet, synthetic: ImageSet, seed: int = 0) -> ImageSet:
    """Real images with the synthetic set's count per cell (the first of a seeded order; fewer where the
    real cell has fewer)."""
    want = np.bincount(synthetic.cells(), minlength=real.num_cells)
    return real.subset(first_per_cell(real.cells(), {c: int(n) for c, n in enumerate(want)}, seed))


class QualityMeter:
    """Measures synthetic sets against one real reference (`real`, disjoint from `test`): the feature
    network is trained once, and the real-trained score once per count per cell, so the levels of a sweep
    (Fig. 4) share them."""

    def __init__(self, real: ImageSet, test: ImageSet, cfg: QualityConfig = QualityConfig()):
        self.real, self.test, self.cfg = real, test, cfg
        self._extract = None
        self._real_scores: dict = {}

    def extract(self, images: ImageSet) -> np.ndarray:
        if self._extract is None:
            audit_cfg = AuditConfig(steps=self.cfg.feature_steps, batch_size=self.cfg.batch_size, seed=self.cfg.seed,
                                    device=self.cfg.device)
            with tempfile.TemporaryDirectory(prefix="synaug-quality-") as run_dir:
                self._extract = feature_extractor(self.real, audit_cfg, Path(run_dir))
        return self._extract(images)

    def real_score(self, matched: ImageSet) -> dict:
        key = tuple(np.bincount(matched.cells(), minlength=matched.num_cells))
        if key not in self._real_scores:
            self._real_scores[key] = classifier_score(matched, self.test, self.cfg)
        return self._real_scores[key]

    def measure(self, synthetic: ImageSet) -> dict:
        """CAS, Fréchet distance, copy rate and per-cell recall of `synthetic` (see the module docstring)."""
        cfg = self.cfg
        matched = as_many_real(self.real, synthetic, cfg.seed)
        cas, real_score = classifier_score(synthetic, self.test, cfg), self.real_score(matched)
        f_syn, f_real, f_test = self.extract(synthetic), self.extract(matched), self.extract(self.test)
        copies = M.near_duplicates(f_real, f_syn)
        cells, real_cells = synthetic.cells(), matched.cells()
        recall = {name: M.knn_precision_recall(f_real[real_cells == c], f_syn[cells == c], cfg.k)["recall"]
                  for c, name in enumerate(synthetic.cell_names())}
        return {"images": len(synthetic), "real_images": len(matched),
                "cas": cas, "real_score": real_score,
                "cas_ratio": cas["accuracy"] / real_score["accuracy"] if real_score["accuracy"] else None,
                "frechet_distance": frechet_distance(f_test, f_syn),
                "frechet_distance_real": frechet_distance(f_test, f_real),
                "feature_network": (f"{FEATURE_MODEL} trained with ce-rs on the real images for "
                                    f"{cfg.feature_steps} steps"),
                "copy_rate": copies["copy_rate"], "duplicate_rate": copies["duplicate_rate"], "recall": recall,
                "settings": {"steps": cfg.steps, "feature_steps": cfg.feature_steps, "batch_size": cfg.batch_size,
                             "k": cfg.k, "seed": cfg.seed}}


def image_quality(synthetic: ImageSet, real: ImageSet, test: ImageSet, cfg: QualityConfig = QualityConfig()) -> dict:
    """CAS, Fréchet distance, copy rate and per-cell recall of `synthetic` (see the module docstring);
    `real`: real images disjoint from `test` (a generator's fit pool), the reference of every measure."""
    return QualityMeter(real, test, cfg).measure(synthetic)
