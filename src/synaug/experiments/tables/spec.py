"""A paper table as data: its rows (a method, and where its synthetic images come from), the claims
the paper draws from it, and references to the paper's numbers (paper_numbers.yaml). Checked when
it registers: a claim naming a row the table lacks, or a paper reference the data file lacks, is an
error at import. `table_experiment` turns a spec into an Experiment: one job per row and seed, and a
collector that makes the table of Stats, the paper column, and one finding per claim.

A row whose method or generator is not in this synaug, or that needs the diffusion generator's image
translation, is skipped with the reason recorded, so an experiment runs before and after such
additions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import yaml

from synaug.engine.specs import GeneratorSpec
from synaug.errors import ConfigError, SynaugError, check_keys
from synaug.experiments import paper
from synaug.experiments.catalog import Experiment, ExperimentContext, ExperimentResult, Finding, Results
from synaug.experiments.claims import Claim, evaluate_claims
from synaug.experiments.table import Table
from synaug.experiments.uncertainty import row_stats
from synaug.experiments.tasks import TASKS
from synaug.fileio import atomic_write_text
from synaug.generators.base import GENERATORS, takes_option
from synaug.prompts import bank_for_dataset, load_bank
from synaug.methods import get_method


@dataclass(frozen=True)
class Row:
    label: str                       # the row's name in the table
    method: str                      # a registered method name (or a composed one, e.g. uniformize+rs)
    generator: str | None = None     # the generator of its synthetic images (None: the config's)
    img2img: str | None = None       # image-translation baseline: the config's generator guided by real images
    plan: str | None = None          # "no-modifiers": one plain modifier for every image (Table 1 a)
    paper: str | None = None         # "TABLE/ROW" in paper_numbers.yaml
    fallback: tuple = ()             # method names to run if `method` is not registered (noted)
    fit: str | None = None           # `generator` fitted on this pool of the data first (train | unused | pretrain)


@dataclass(frozen=True)
class TableSpec:
    title: str
    rows: tuple
    claims: tuple
    source: str = ""                 # where the paper column comes from (default: the rows' table)
    note: str = ""
    paper_only: tuple = ()           # the paper's rows this table does not run ("NAME: why", or NAME)

    def __post_init__(self):
        labels = [r.label for r in self.rows]
        if len(set(labels)) != len(labels):
            raise ConfigError(f"table {self.title!r}: duplicate row labels {labels}")
        for claim in self.claims:
            claim.check(labels)
        for row in self.rows:
            if row.paper:
                paper.check_ref(row.paper)

    def paper_source(self) -> str:
        refs = [r.paper for r in self.rows if r.paper]
        return self.source or (paper.source(refs[0]) if refs else "")


def slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9+.-]+", "-", label).strip("-").lower() or "row"


def resolve_method(row: Row) -> tuple[str | None, str]:
    """The method a row runs (its own, else the first registered fallback) and a note; None with the
    reason when neither is registered."""
    for i, name in enumerate((row.method, *row.fallback)):
        try:
            get_method(name)
        except SynaugError:
            continue
        return name, "" if i == 0 else f"{row.method} is not registered here: ran {name} instead"
    return None, (f"method {row.method!r} is not registered in this synaug"
                  + (f" (nor {', '.join(row.fallback)})" if row.fallback else ""))


def why_not_runnable(row: Row, ctx: ExperimentContext) -> str | None:
    if row.img2img and not takes_option(ctx.config.generator.name, "img2img"):
        return (f"not runnable here: image translation needs a generator that takes real guidance images "
                f"(img2img), such as diffusion; this config's generator is {ctx.config.generator.name!r} (a "
                "config with generate: {generator: diffusion, options: {model: ...}})")
    if row.generator and row.generator not in GENERATORS:
        return f"generator {row.generator!r} is not registered in this synaug"
    return None


def no_modifier_bank(ctx: ExperimentContext) -> str:
    """A modifier bank with one plain modifier (Table 1 a: prompts without class-related modifiers),
    keeping the dataset bank's template and group phrases; written into the shared folder."""
    plan = ctx.config.plan
    bank = load_bank(plan.modifiers or bank_for_dataset(ctx.config.data.dataset), plan.template)
    path = ctx.ws.shared / f"no-modifiers-{ctx.config.data.name}.yaml"  # one per dataset's bank
    text = yaml.safe_dump({"template": bank.template, "default": ["a"], "groups": dict(bank.groups)})
    if ctx.ws.dist.is_main and not ctx.dry and (not path.is_file() or path.read_text() != text):
        ctx.ws.shared.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, text)
    return str(path)


def row_generator(ctx: ExperimentContext, row: Row) -> GeneratorSpec:
    g = ctx.config.generator
    if row.fit:
        return ctx.config.fitted(row.generator, row.fit)
    if row.generator:
        return GeneratorSpec(row.generator, {}, g.batch_size, g.workers, g.skip_undrawable)
    return g.with_options(img2img=row.img2img) if row.img2img else g


def row_jobs(ctx: ExperimentContext, spec: TableSpec) -> list:
    """One job per runnable row and seed (run folder runs/<row slug>/seedS)."""
    check_keys(ctx.config.options, (), "experiment options (a table takes none: its rows are its own)")
    jobs = []
    for row in spec.rows:
        name, _ = resolve_method(row)
        if name is None or why_not_runnable(row, ctx):
            continue
        plan = replace(ctx.config.plan, modifiers=no_modifier_bank(ctx)) if row.plan == "no-modifiers" else None
        jobs += [ctx.config.job(name, seed, slug(row.label), plan=plan, generator=row_generator(ctx, row))
                 for seed in ctx.seeds]
    return jobs


def collect_table(ctx: ExperimentContext, spec: TableSpec, results: Results) -> ExperimentResult:
    """The table of Stats over seeds (the task's metrics), the paper column, the claims' findings."""
    task = TASKS[ctx.config.task]
    table = Table(spec.title, list(task.metrics), note=spec.note, paper_source=spec.paper_source())
    skipped = [label if ": " in label else f"{label}: a paper row with no implementation in synaug"
               for label in spec.paper_only]
    notes, runs = [], {}
    for row in spec.rows:
        name, note = resolve_method(row)
        why = why_not_runnable(row, ctx) or (note if name is None else results.failed.get(slug(row.label)))
        if why:
            skipped.append(f"{row.label}: {why}")
            continue
        runs[row.label] = results.row(ctx.ws, slug(row.label))
        table.rows[row.label] = row_stats(runs[row.label], task.metrics, ctx.config.bootstrap)
        notes += [f"{row.label}: {note}"] if note else []
        numbers = paper.row_numbers(row.paper, ctx.config.data.imbalance) if row.paper else {}
        if numbers:
            table.paper[row.label] = numbers
        if row.paper and paper.flag(row.paper):
            notes.append(f"paper row {row.label}: {paper.flag(row.paper)}")
        for seed, m in results.runs(slug(row.label)):
            shown = "  ".join(f"{k} {m.get(k):.2f}" for k in task.metrics[:4] if m.get(k) is not None)
            ctx.log(f"  {row.label:<34} seed {seed}: {shown}")
    table.note = " ".join([spec.note, *notes]).strip()
    findings = evaluate_claims(list(spec.claims), runs, Finding, ctx.config.bootstrap)
    return ExperimentResult(tables=[table], findings=findings, skipped=skipped)


def table_experiment(name: str, title: str, paper_text: str, dataset: str, spec: TableSpec, tiny: dict,
                     task: str = "longtail", defaults: dict | None = None) -> Experiment:
    return Experiment(name, title, paper_text, dataset, jobs=lambda ctx: row_jobs(ctx, spec),
                      collect=lambda ctx, results: collect_table(ctx, spec, results), tiny=tiny, task=task,
                      defaults=defaults or {}, partial=True)


SMALL = {"steps": 4, "stage2_steps": 2, "batch_size": 16, "dfr_refits": 1, "checkpoint_every": 1000}
# tests: a few steps, and plans that fill every cell to 100 images only (U-100: ~100-160 images, seconds)
TINY_LT = {"imbalance": 10, "train": SMALL, "seeds": [0], "plan": {"strategy": "U-100"}, "bootstrap": 100}
TINY_GROUPS = {"train": SMALL, "seeds": [0], "plan": {"strategy": "U-100"}, "bootstrap": 100}
