"""The dataset registry: every reader registers itself here (`@register_dataset("name")`) and
`load_dataset("name[:PATH]")` finds it. Adding a dataset is one decorated function in its own module
(imported by `synaug.data`)."""

from __future__ import annotations

import math
from pathlib import Path

from synaug.data.imageset import DatasetSplits
from synaug.errors import DatasetError, unknown
from synaug.registry import Registry, UnknownOption, named_options
from synaug.validate import dataset_spec

DATASETS = Registry("dataset")
DATA_REVISIONS: dict[str, str] = {}  # dataset name -> what its embedded splits contain (see data_revision)


def register_dataset(name: str, revision: str | None = None):
    """Register a dataset reader under `name`; `revision` (embedded datasets) names what its splits
    contain, changed whenever they change while the name stays, so stored runs are not mistaken for new ones."""
    if revision is not None:
        DATA_REVISIONS[name] = revision
    return DATASETS.register(name)


def data_revision(spec: str) -> str | None:
    """The registered revision of dataset `spec` (NAME or NAME:PATH), or None (user data: its files decide)."""
    return DATA_REVISIONS.get(spec.partition(":")[0])


def check_dataset_name(spec: str) -> None:
    """A registered dataset name, with a path only where the dataset reads one (nothing is read)."""
    name, _, path = spec.partition(":")
    if name not in DATASETS:
        hint = f" (a folder? use imagefolder:{spec} or csv:{spec})" if Path(spec).exists() else ""
        raise DatasetError(unknown("dataset", name, DATASETS) + f" (path-based ones take NAME:PATH){hint}")
    if path and "path" not in named_options(DATASETS[name]):
        raise DatasetError(f"dataset {name!r} is embedded and takes no path; use --dataset {name}")
    if not path and "path" in named_options(DATASETS[name]):
        raise DatasetError(f"dataset {name!r} reads your files: give its path as {name}:PATH")


def load_dataset(spec: str, imbalance: float = 100, lt_seed: int = 0, **options) -> DatasetSplits:
    """Load `name` or `name:PATH`; `imbalance` (the long-tail factor IF) reaches the datasets that
    build a long tail, `lt_seed` those that draw anything of their own (the long tail's kept images as
    `lt_seed`, their train / val / test splits as `split_seed`), `options` the dataset's own (an
    unknown one is an error; a dataset option `split_seed` wins over `lt_seed`)."""
    check_dataset_name(spec)
    name, _, path = spec.partition(":")
    if imbalance is None or not (math.isfinite(imbalance) and imbalance >= 1):
        raise DatasetError(f"the imbalance factor is n_max / n_min and must be >= 1, got {imbalance}")
    context = dict(imbalance=imbalance, lt_seed=lt_seed, split_seed=lt_seed, **({"path": path} if path else {}))
    try:
        splits = DATASETS.create(name, context, **options)
    except UnknownOption as exc:
        raise DatasetError(f"dataset {name!r} has no option(s) {str(exc).split('option(s) ')[1]}") from exc
    present = int((splits.train.class_counts() > 0).sum())
    if present < 2:
        raise DatasetError(f"{spec}: the training split has {present} class(es) with images; a classifier "
                           "needs at least 2 (there is nothing to balance)")
    # what made the splits, for run manifests (`synaug evaluate --run` finds its dataset here)
    splits.info = {**splits.info, "spec": dataset_spec(spec)}
    return splits
