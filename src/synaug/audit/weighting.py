"""Audit-score weighting of synthetic images in training (TrainConfig `synthetic_weighting: audit`,
`audit: DIR`): a synthetic image of a cell whose audit score is s is drawn s times as often as a
real image of the same stratum would be (real images weigh 1; a cell the audit could not score
keeps weight 1, as the audit budgets leave it its uniform fill).

Sampling weights, not loss weights: the loop's batch transforms (Mixup, CutMix, domain pairing)
mix samples and their targets, and a per-sample loss weight has no clean meaning for a mixed
sample; a weighted draw changes only which images enter the batch. The method's own sampler sets
the base probabilities (uniform for `shuffle`, 1 / |stratum| for the balanced samplers) and the
audit weight multiplies them, so `ce-rs`-like balancing and the audit's weighting compose.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from synaug.cells import cell_tag, is_grouped_tag
from synaug.data.imageset import ImageSet
from synaug.errors import ConfigError
from synaug.training.samplers import ProbabilitySampler, Sampler


def read_scores(audit: str | Path, metric: str = "score") -> tuple[dict, bool]:
    """({cell key "c" or "c:g": score or None}, whether the audit is over class x group cells)."""
    path = Path(audit)
    file = path / "audit.json" if path.is_dir() else path
    if not file.is_file():
        raise ConfigError(f"synthetic_weighting: audit needs an audit: no audit.json at {path} "
                          "(make one with `synaug audit`, or train the synaug-audit method)")
    data = json.loads(file.read_text())
    grouped = any(is_grouped_tag(c["key"]) for c in data["cells"])
    return {str(c["key"]): c.get(metric) for c in data["cells"]}, grouped


def sample_weights(train_set: ImageSet, scores: dict, grouped: bool) -> np.ndarray:
    """Per sample: 1 for a real image, the score of its cell (clipped to [0, 1]) for a synthetic one."""
    if grouped and not train_set.has_groups:
        raise ConfigError("the audit scores class x group cells but this method trains on classes: "
                          "audit with --no-groups for it")
    w = np.ones(len(train_set))
    for i in np.flatnonzero(train_set.synthetic):
        key = cell_tag((int(train_set.labels[i]), int(train_set.groups[i])) if grouped else int(train_set.labels[i]))
        if key not in scores:
            raise ConfigError(f"the audit has no cell {key!r}: it was made on other data")
        s = scores[key]
        w[i] = 1.0 if s is None else min(max(float(s), 0.0), 1.0)
    return w


def weighted_by_audit(sampler: Sampler, train_set: ImageSet, cfg) -> Sampler:
    """`sampler` unchanged when `cfg.synthetic_weighting` is "none", else a `ProbabilitySampler`
    whose probabilities are the sampler's own (uniform if it has none) times the audit weights."""
    if cfg.synthetic_weighting == "none" or not train_set.synthetic.any():
        return sampler
    if not cfg.audit:
        raise ConfigError("synthetic_weighting: audit needs train option `audit: DIR` (a `synaug audit` folder)")
    base = getattr(sampler, "p", None)
    base = np.full(len(train_set), 1.0 / len(train_set)) if base is None else np.asarray(base, float)
    p = base * sample_weights(train_set, *read_scores(cfg.audit))
    if p.sum() <= 0:
        raise ConfigError("synthetic_weighting: audit leaves no image to draw")
    return ProbabilitySampler(p / p.sum(), cfg.batch_size, cfg.seed, stream=(7,))  # its own draws
