"""A job: one training run into its own folder, as frozen data (DomainBed's `train.py` unit).

Everything that decides what a run learns is here: which real images (`data`, `subset`), which
synthetic images (a `plan` drawn by a `generator`, or a `synthetic_folder` the user made), the
`method` and the training config `train` (its seed is the job's), and the evaluation `thresholds`
(which score a run, not what it learns: they are not part of its identity; collectors re-score a
run's record with any thresholds). `stamp()` is the job's identity as JSON and `key()` its hash, the
name of its folder in a run store (DomainBed's sweep): a run folder whose recorded stamp equals it
(and whose training data digests match) is this job done, so sweeps only list jobs, and a job that
five tables list trains once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any

from synaug.data.datasets import data_revision
from synaug.engine.specs import DataSpec, GeneratorSpec, PlanSpec, Subset, Thresholds
from synaug.errors import ConfigError
from synaug.training.config import TrainConfig
from synaug.training.methods import Method, get_method

# training options that change no learned weight: left out of the stamp
NOT_STAMPED = ("device", "eval_batch_size", "checkpoint_every", "cache_dir", "cache_workers", "compile")


@dataclass(frozen=True)
class Job:
    name: str                              # the run's name in its sweep (its folder: runs/NAME/seedS)
    method: str                            # a registered method, or a composition "A+B"
    data: DataSpec
    train: TrainConfig = field(default_factory=TrainConfig)
    plan: PlanSpec | None = None           # synthetic images the engine plans and draws...
    generator: GeneratorSpec | None = None  # ...with this backend
    synthetic_folder: str | None = None    # or a `synaug generate` folder (with its plan record)
    subset: Subset = field(default_factory=Subset)
    thresholds: Thresholds = field(default_factory=Thresholds)
    tuned: bool = False                    # its method's `tune` options are set (a candidate, or the chosen one)

    def __post_init__(self):
        method = get_method(self.method)  # an unknown method (or part of A+B) fails here, before any work
        if self.plan is not None and self.synthetic_folder is not None:
            raise ConfigError(f"job {self.name!r}: a plan or a synthetic folder, not both")
        if (self.plan is None) != (self.generator is None):
            raise ConfigError(f"job {self.name!r}: a plan needs its generator (and a generator its plan)")
        if method.synthetic and self.plan is None and self.synthetic_folder is None:
            raise ConfigError(f"method {method.name!r} trains on synthetic images: give it a plan and a generator, "
                              "or a folder made by `synaug plan` + `synaug generate` (--synthetic DIR)")
        if self.subset.synthetic and self.plan is None:
            raise ConfigError(f"job {self.name!r}: mixing synthetic images into the training split needs a plan")
        if self.plan is not None and self.plan.use_groups != method.use_groups:
            object.__setattr__(self, "plan", replace(self.plan, use_groups=method.use_groups))
        check_weighting(self.train, method)

    def __hash__(self) -> int:  # the training config is a plain dataclass: hash the stamp instead
        return hash((self.name, json.dumps(self.stamp(), sort_keys=True, default=str)))

    @property
    def seed(self) -> int:
        return self.train.seed

    @property
    def method_entry(self) -> Method:
        return get_method(self.method)

    @property
    def uses_plan_images(self) -> bool:
        """Whether the job reads synthetic images (to train on, or to mix into its training split)."""
        return self.method_entry.synthetic or bool(self.subset.synthetic)

    def stamp(self) -> dict[str, Any]:
        """The job as JSON: what decides the learned weights (runner settings and the device left out).
        An embedded dataset's `data_revision` (what its splits contain, `synaug.data.datasets.data_revision`)
        is part of it, so a run stored before its splits changed is never taken for a run on the new ones;
        user data has none (its files' digests are checked instead)."""
        train = {k: v for k, v in self.train.to_dict().items() if k not in NOT_STAMPED}
        revision = data_revision(self.data.dataset)
        return {**({"data_revision": revision} if revision else {}),
                "method": self.method, "data": self.data.to_dict(), "train": train,
                "plan": None if self.plan is None else self.plan.to_dict(),
                "generator": None if self.generator is None else {"name": self.generator.name,
                                                                 "options": dict(self.generator.options),
                                                                 **({"fit": dict(self.generator.fit)}
                                                                    if self.generator.fit else {})},
                "synthetic_folder": self.synthetic_folder, "subset": self.subset.to_dict()}

    def key(self) -> str:
        """The hash of the stamp: equal for equal jobs whatever their name or the table listing them."""
        return hashlib.sha256(json.dumps(self.stamp(), sort_keys=True, default=str).encode()).hexdigest()[:20]


def check_weighting(train: TrainConfig, method: Method) -> None:
    """`synthetic_weighting: audit` with no `audit:` folder only works for methods that make their own
    audit (synaug-audit): fail before any training."""
    if train.synthetic_weighting == "audit" and not train.audit and method.synthetic \
            and method.synthetic_policy != "audited":
        raise ConfigError(f"train: synthetic_weighting: audit needs `audit: DIR` (a `synaug audit` folder) for "
                          f"{method.name}; only synaug-audit makes its own")
