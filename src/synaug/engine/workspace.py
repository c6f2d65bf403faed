"""What the jobs of one command share: datasets loaded once per process, synthetic sets generated
once per plan (in the `shared` folder), their audits, and where decoded image caches live. A
workspace holds no result: results are the run folders."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from synaug.audit.recipe import audited_synthetic
from synaug.data.imageset import DatasetSplits
from synaug.engine.caching import training_side
from synaug.engine.data import load_splits
from synaug.engine.fitting import fit_folder, fitted_generator
from synaug.engine.job import Job
from synaug.engine.specs import DataSpec, GeneratorSpec, PlanSpec
from synaug.engine.synthetic import SyntheticSet, folder_set, planned_folder, planned_set
from synaug.generators.runner import METADATA
from synaug.plans import first_per_cell
from synaug.training.distributed import Dist
from synaug.training.pipeline import check_before_training


@dataclass
class Workspace:
    shared: Path                      # synthetic sets (one folder per plan) and their audits
    cache_dir: Path | None = None     # decoded image caches (None: the shared default, unless a job's train sets one)
    progress: bool = True
    log: Callable = print
    dist: Dist = field(default_factory=Dist)
    _splits: dict = field(default_factory=dict, repr=False)
    _synthetic: dict = field(default_factory=dict, repr=False)
    _audits: dict = field(default_factory=dict, repr=False)

    def quiet(self, *args, **kwargs) -> None:
        """Log on rank 0 only (every rank runs the same jobs)."""
        if self.dist.is_main:
            self.log(*args, **kwargs)

    def splits(self, data: DataSpec) -> DatasetSplits:
        """The splits of `data` (`synaug.engine.data.load_splits`), loaded once."""
        if data not in self._splits:
            self._splits[data] = load_splits(data)
        return self._splits[data]

    def check(self, jobs: list[Job], stored: Callable[[Job], bool] = lambda job: False) -> None:
        """What fails on the inputs alone, for every job that is not `stored` (each once): its data, its
        method's needs, the device and the model against the images (`check_before_training`). Read,
        never written: a command checks every job it will train before it makes any folder."""
        for job in {j.key(): j for j in jobs}.values():
            if not stored(job):
                raw = self.splits(job.data)
                check_before_training(job.method_entry, raw, job.train, training_side(raw, job.train))

    def synthetic(self, job: Job, splits: DatasetSplits, side: int) -> SyntheticSet:
        """The synthetic set a job reads: its plan's (generated once into SHARED) or its folder's."""
        if job.plan is not None:
            return self.planned(job.data, job.plan, job.generator, side, splits)
        key = (job.data, job.synthetic_folder, side, job.method_entry.use_groups)
        if key not in self._synthetic:
            self._synthetic[key] = folder_set(Path(job.synthetic_folder), splits, side, job.method_entry.use_groups)
        return self._synthetic[key]

    def planned(self, data: DataSpec, plan: PlanSpec, generator: GeneratorSpec, side: int,
                splits: DatasetSplits | None = None) -> SyntheticSet:
        """The synthetic set of `plan` for `data`'s training split, generated once into SHARED."""
        key = (data, plan, generator, side)
        if key not in self._synthetic:
            splits = splits or self.splits(data)
            drawing = fitted_generator(generator, data, splits, self.shared, plan.use_groups, dist=self.dist,
                                       progress=self.progress, log=self.quiet)
            self._synthetic[key] = planned_set(splits, data, plan, drawing, self.shared, side, dist=self.dist,
                                               progress=self.progress, log=self.quiet)
        return self._synthetic[key]

    def drawn(self, data: DataSpec, plan: PlanSpec, generator: GeneratorSpec, side: int) -> bool:
        """Whether `planned` would only read: the plan's images are all written in SHARED (metadata.csv is
        written last, so a set drawn from a fitted model also means the fit finished). Fits and draws
        nothing: a collection from stored runs asks before it reads images it would otherwise make."""
        splits = self.splits(data)
        drawing = (generator.with_options(model=str(fit_folder(generator, data, splits, self.shared, plan.use_groups)))
                   if generator.fit else generator)
        return (planned_folder(splits, data, plan, drawing, self.shared, side) / "images" / METADATA).is_file()

    def fit_to_make(self, data: DataSpec, plan: PlanSpec, generator: GeneratorSpec) -> Path | None:
        """The folder of the generator fit `planned` would make before it draws (None: the generator fits
        nothing, or a fit was started there already, which a stopped fit resumes). Fits nothing."""
        if not generator.fit:
            return None
        folder = fit_folder(generator, data, self.splits(data), self.shared, plan.use_groups)
        return None if folder.is_dir() else folder

    def audited(self, synthetic: SyntheticSet, splits: DatasetSplits, dataset: str) -> tuple:
        """The audited subset of a synthetic set and the recipe's summary (`synaug.audit.recipe`:
        audit -> filter -> budget against `splits`, the real images after the plan's cuts), made once,
        in the folders beside the set's images."""
        key = str(synthetic.folder)
        if key not in self._audits:
            base = self.audit_dir(synthetic).parent
            self._audits[key] = audited_synthetic(splits, synthetic.folder, synthetic.images, base / "audit",
                                                  base / "audited", use_groups=synthetic.use_groups, dataset=dataset,
                                                  progress=self.progress, dist=self.dist)
            s = self._audits[key][1]
            when = "reused: the same data, set and settings" if s.get("reused") else f"{s['audit_seconds']:.0f}s"
            self.quiet(f"audit ({base / 'audit'}, {when}): the audited recipe (method "
                       f"synaug-audit) keeps {s['synthetic_used']} of {s['synthetic_uniform']} synthetic images "
                       f"({s['dropped_by_filter']} dropped by the filter, the rest by the budget); the other methods "
                       "train on all of them")
        return self._audits[key]

    def audit_dir(self, synthetic: SyntheticSet) -> Path:
        """Where a set's audit goes: beside a planned set's images, else in the shared folder (a user's
        folder is never written to)."""
        planned = synthetic.folder.name == "images" and (synthetic.folder.parent / "plan.csv").is_file()
        return (synthetic.folder.parent if planned else self.shared) / "audit"


def subset_of(n_of: tuple, labels: np.ndarray, seed: int) -> np.ndarray:
    """Indices of the first n of each class (a `Subset` pair list) in a seeded order."""
    named = dict(n_of)
    return first_per_cell(labels, {c: named.get(c, 0) for c in np.unique(labels)}, seed)
