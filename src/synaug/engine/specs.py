"""What a job is made of, as frozen data. Each spec checks its own fields when it is made (choices
come from the registries), so the CLI, configs and the Python API share one validation; `to_dict`
gives the JSON form that run folders record and stamps compare.

    DataSpec       which real images: dataset spec, imbalance, dataset options, subset seed, cap
    PlanSpec       how the plan fills cells: strategy, seed, prompts, over cells or classes
    GeneratorSpec  which backend draws the plan, with its options and runner settings
    Subset         which of the training images a job keeps (mixtures of the replacement test)
    Thresholds     Many / Few class thresholds of the long-tail metrics
"""

from __future__ import annotations

import json
import numbers
from dataclasses import asdict, dataclass, fields
from typing import Any

from synaug.cells import CellSpace, cell_text
# check_int / check_number / check_choice: re-exported for the modules that import them from here
from synaug.constraints import (BOOLEAN, FEW, IMBALANCE, MANY, MAX_BATCH, WORKERS, check, check_choice, check_int,
                                check_number)
from synaug.data.datasets import check_dataset_name
from synaug.errors import ConfigError, PlanError, check_keys, unknown
from synaug.generators.base import GENERATORS, check_generator_options, fitting
from synaug.validate import parse_strategy

__all__ = ["DataSpec", "PlanSpec", "GeneratorSpec", "Subset", "Thresholds", "fit_settings", "frozen_items", "as_dict",
           "check_int", "check_number", "check_choice", "FIT_POOLS"]


def frozen_items(mapping) -> tuple:
    """A mapping (or a list of (key, value) pairs, its JSON form) as sorted pairs: hashable, order-free."""
    if mapping is None:
        return ()
    if isinstance(mapping, (tuple, list)) and all(isinstance(p, (tuple, list)) and len(p) == 2 for p in mapping):
        mapping = dict(mapping)
    if not isinstance(mapping, dict):
        raise ConfigError(f"expected a mapping, got {type(mapping).__name__} {mapping!r}")
    return tuple(sorted((str(k), _frozen(v)) for k, v in mapping.items()))


def _frozen(value):
    if isinstance(value, dict):
        return frozen_items(value)
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value


def as_dict(items: tuple) -> dict:
    """The inverse of `frozen_items`, one level deep (nested pairs stay tuples)."""
    return {k: v for k, v in items}


class Spec:
    """Shared by the specs: the JSON form (mappings kept as pairs inside read back as mappings) and
    construction from a config mapping (unknown keys refused with a suggestion)."""

    MAPPINGS: tuple = ()  # fields held as sorted pairs, written as mappings

    def to_dict(self) -> dict:
        d = asdict(self)
        for name in self.MAPPINGS:
            if isinstance(d[name], tuple):
                d[name] = dict(d[name])
        return json.loads(json.dumps(d, default=list))

    @classmethod
    def from_dict(cls, d: dict | None, where: str = ""):
        d = dict(d or {})
        check_keys(d, [f.name for f in fields(cls)], where or cls.__name__)
        return cls(**d)


@dataclass(frozen=True)
class DataSpec(Spec):
    """Which real images: `dataset` ("mnist-lt", "imagefolder:ROOT"...), the long-tail factor
    `imbalance`, dataset `options` (e.g. group_column), `subset_seed` (what synaug draws of the dataset:
    the images a long tail keeps, LDAM-DRW's RandomState seed, and the splits of the embedded sets),
    `groups` (False drops the group attribute), `per_class` (keep at most this many training images per
    class, the first of a seeded order) and `holdout` (> 0: evaluate on a validation split instead of
    the test split: the dataset's own validation split, else this share of every training cell carved
    off, seeded, `synaug.data.splits.carve_validation`; for choices made on validation data, tuning)."""

    MAPPINGS = ("options",)
    dataset: str
    imbalance: float = 100
    options: tuple = ()
    subset_seed: int = 0
    groups: bool = True
    per_class: int | None = None
    holdout: float = 0.0

    def __post_init__(self):
        if not isinstance(self.dataset, str) or not self.dataset:
            raise ConfigError(f"dataset: give a dataset name (or NAME:PATH), got {self.dataset!r}")
        check_dataset_name(self.dataset)
        object.__setattr__(self, "imbalance", float(check("imbalance", self.imbalance, IMBALANCE)))
        object.__setattr__(self, "options", frozen_items(self.options))
        check_int("subset_seed", self.subset_seed)
        check_int("per_class", self.per_class, 1, optional=True)
        object.__setattr__(self, "holdout", check_number("holdout", self.holdout, 0, 0.9))
        check("groups", self.groups, BOOLEAN)

    @property
    def name(self) -> str:
        return self.dataset.partition(":")[0]


@dataclass(frozen=True)
class PlanSpec(Spec):
    """How a plan fills the cells: `strategy` (a name, "U-100", "LT+50", or {cell tag: final count}
    as sorted pairs), the base `seed` of every image's seed (and of the real images a U-beta plan
    keeps), prompt `template`, `modifiers` bank, class `aliases` (the words prompts, and the renderer,
    use for a class), `use_groups` (plan over class x group cells when the data has groups, else over
    classes) and `render_words` (a word the offline renderer looks up for a class, the prompt unchanged)."""

    MAPPINGS = ("aliases", "strategy", "render_words")
    strategy: Any = "uniform"
    seed: int = 0
    template: str | None = None
    modifiers: str | None = None
    aliases: tuple = ()
    use_groups: bool = True
    render_words: tuple = ()

    def __post_init__(self):
        strategy = parse_strategy(self.strategy) if isinstance(self.strategy, str) else self.strategy
        if isinstance(strategy, dict):  # {cell: final count}: hashable and JSON-able as pairs of tags
            bad = {k: v for k, v in strategy.items()
                   if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0}
            if bad:
                raise ConfigError(f"plan strategy: final counts must be integers >= 0, got {bad}")
            strategy = tuple(sorted((cell_text(k), int(v)) for k, v in strategy.items()))
        elif not isinstance(strategy, (str, tuple)):
            raise ConfigError(f"plan strategy: a name or a {{cell: final count}} mapping, got {strategy!r}")
        object.__setattr__(self, "strategy", strategy)
        check_int("plan seed", self.seed)
        object.__setattr__(self, "aliases", frozen_items(self.aliases))
        object.__setattr__(self, "render_words", frozen_items(self.render_words))
        for name in ("template", "modifiers"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), str):
                raise ConfigError(f"plan {name}: text or null, got {getattr(self, name)!r}")

    def strategy_value(self, space: CellSpace):
        """The strategy as `synaug.plans.plan_counts` takes it: {cell key: final count} for a mapping,
        its cells named by `space` (class names or indices, "class:group"), else the name as given."""
        if not isinstance(self.strategy, tuple):
            return self.strategy
        out = {}
        for text, n in self.strategy:
            key = space.key_of(text)
            if key in out:
                raise PlanError(f"plan strategy: cell {space.name(key)!r} is given twice ({text!r} and another name)")
            out[key] = n
        return out


@dataclass(frozen=True)
class GeneratorSpec(Spec):
    """A registered backend (`name`) with its own `options`, and the runner's settings: images per
    `batch_size`, `workers` processes (CPU backends), `skip_undrawable` (generate the rest and
    report cells the backend cannot draw). `fit`: for a backend trained on the dataset's own images
    (`ddpm`), the pool it learns from (`pool`: train | unused | pretrain) and its fit settings; the engine fits it
    once per data and settings (`synaug.engine.fitting`) and draws with the fitted model."""

    MAPPINGS = ("options", "fit")
    name: str = "render"
    options: tuple = ()
    batch_size: int = 256
    workers: int = 1
    skip_undrawable: bool = True
    fit: tuple = ()

    def __post_init__(self):
        if self.name not in GENERATORS:
            raise ConfigError(unknown("generator", self.name, GENERATORS))
        object.__setattr__(self, "options", frozen_items(self.options))
        check_generator_options(self.name, as_dict(self.options))
        object.__setattr__(self, "fit", frozen_items(self.fit))
        if self.fit:
            fit_settings(self.name, as_dict(self.fit))
        check_int("generate batch_size", self.batch_size, 1, MAX_BATCH)
        check("generate workers", self.workers, WORKERS)
        check("generate skip_undrawable", self.skip_undrawable, BOOLEAN)

    def with_options(self, **changes) -> GeneratorSpec:
        """This spec with options changed (a value of None removes the option)."""
        options = {**as_dict(self.options), **changes}
        return GeneratorSpec(self.name, {k: v for k, v in options.items() if v is not None}, self.batch_size,
                             self.workers, self.skip_undrawable, self.fit)


# the real images a fitted generator may learn from (never the test split): the long-tailed training split,
# the images the long tail left out, or the embedded datasets' fixed pretrain split (disjoint from every split)
FIT_POOLS = ("train", "unused", "pretrain")


def fit_settings(name: str, fit: dict) -> tuple[str, Any]:
    """(pool, settings) of a `generate: {fit: ...}` mapping for backend `name`, checked: the backend
    must be one that is fitted, the pool one of FIT_POOLS, the settings its own."""
    if fitting(name) is None:
        raise ConfigError(f"generate fit: generator {name!r} is not fitted on the data (a fitted backend: ddpm)")
    fit = dict(fit)
    pool = check_choice("generate fit pool", fit.pop("pool", "train"), FIT_POOLS)
    if "arch_options" in fit:  # held as pairs in the spec; the settings take the mapping back
        fit["arch_options"] = {k: list(v) if isinstance(v, tuple) else v for k, v in dict(fit["arch_options"]).items()}
    return pool, fitting(name)[0].from_options(fit)


@dataclass(frozen=True)
class Subset(Spec):
    """Which training images a job keeps: `real` and `synthetic` as ((class, n), ...) (the first n
    of each class's order shuffled by `seed`; () keeps every image)."""

    MAPPINGS = ("real", "synthetic")
    real: tuple = ()
    synthetic: tuple = ()
    seed: int = 0

    def __post_init__(self):
        for name in ("real", "synthetic"):
            pairs = tuple(sorted((check_int(f"subset {name} class", int(c)), check_int(f"subset {name} count", n))
                                 for c, n in (getattr(self, name).items() if isinstance(getattr(self, name), dict)
                                              else getattr(self, name))))
            object.__setattr__(self, name, pairs)
        check_int("subset seed", self.seed)


@dataclass(frozen=True)
class Thresholds(Spec):
    """Many: more than `many` training images; Few: fewer than `few` (LDAM-DRW's 100 / 20, set for
    CIFAR100-LT, whose largest class has 500). With `scale_to` (e.g. 500) both are scaled by the
    data's largest class count / `scale_to`, so they keep their share of the largest class."""

    many: int = MANY
    few: int = FEW
    scale_to: int | None = None

    def __post_init__(self):
        check_int("thresholds many", self.many)
        check_int("thresholds few", self.few)
        check_int("thresholds scale_to", self.scale_to, 1, optional=True)
        if self.few > self.many:
            raise ConfigError(f"thresholds: few and many are image counts with few <= many; got few {self.few}, "
                              f"many {self.many}")

    def effective(self, class_counts) -> tuple[int, int]:
        """(many, few) for training data with these class counts."""
        if not self.scale_to:
            return self.many, self.few
        factor = max(int(n) for n in class_counts) / self.scale_to
        return int(round(self.many * factor)), int(round(self.few * factor))


