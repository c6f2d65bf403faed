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

import numpy as np
import yaml

from synaug.engine.specs import GeneratorSpec
from synaug.errors import ConfigError, SynaugError, check_keys
from synaug.eval.chance import near_chance
from synaug.eval.specs import metric
from synaug.experiments import paper
from synaug.experiments.catalog import Experiment, ExperimentContext, ExperimentResult, Finding, Results
from synaug.experiments.claims import Claim, evaluate_claims
from synaug.experiments.config import RunConfig
from synaug.experiments.table import Table
from synaug.experiments.uncertainty import row_stats
from synaug.experiments.tasks import TASKS
from synaug.fileio import atomic_write_text
from synaug.generators.base import GENERATORS, reads_prompt, takes_option
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
    describe: bool = False           # each row carries its method's description (a run's rows are methods)

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


def skipped_rows(ctx: ExperimentContext, spec: TableSpec) -> set[str]:
    """The rows the config leaves out (`options: {skip_rows: [LABEL, ...]}`, e.g. rows too costly for this
    machine): a table's one option. Each label must be one of the table's rows."""
    check_keys(ctx.config.options, ("skip_rows",), "experiment options (a table's rows are its own; it takes "
                                                   "skip_rows: [row label, ...])")
    given = ctx.config.options.get("skip_rows") or []
    labels = [r.label for r in spec.rows]
    if not isinstance(given, list) or not all(isinstance(g, str) for g in given):
        raise ConfigError(f"options: skip_rows: expected a list of row labels, got {given!r}")
    unknown = [g for g in given if g not in labels]
    if unknown:
        raise ConfigError(f"options: skip_rows: {', '.join(map(repr, unknown))} is not a row of this table "
                          f"(its rows: {', '.join(map(repr, labels))})")
    return set(given)


def why_not_runnable(row: Row, ctx: ExperimentContext, skipped: set[str] = frozenset()) -> str | None:
    if row.label in skipped:
        return "left out by this config (options: skip_rows)"
    if row.img2img and not takes_option(ctx.config.generator.name, "img2img"):
        return (f"not runnable here: image translation needs a generator that takes real guidance images "
                f"(img2img), such as diffusion; this config's generator is {ctx.config.generator.name!r} (a "
                "config with generate: {generator: diffusion, options: {model: ...}})")
    if row.generator and row.generator not in GENERATORS:
        return f"generator {row.generator!r} is not registered in this synaug"
    if row.plan == "no-modifiers" and not reads_prompt(ctx.config.generator.name):
        return (f"not runnable here: the {ctx.config.generator.name!r} generator draws from the class (and group) "
                "alone, not from the prompt's words, so prompts with and without modifiers give the same images "
                "(the modifiers need a generator that reads them: render, diffusion)")
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
    skipped = skipped_rows(ctx, spec)
    jobs = []
    for row in spec.rows:
        name, _ = resolve_method(row)
        if name is None or why_not_runnable(row, ctx, skipped):
            continue
        plan = replace(ctx.config.plan, modifiers=no_modifier_bank(ctx)) if row.plan == "no-modifiers" else None
        jobs += [ctx.config.job(name, seed, slug(row.label), plan=plan, generator=row_generator(ctx, row))
                 for seed in ctx.seeds]
    return jobs


def collect_table(ctx: ExperimentContext, spec: TableSpec, results: Results) -> ExperimentResult:
    """The table of Stats over seeds (the task's metrics), the paper column, the claims' findings, and
    per row its runs (`row_details`) with the rows at chance flagged (`chance_flags`)."""
    task = TASKS[ctx.config.task]
    table = Table(spec.title, list(task.metrics), note=spec.note, paper_source=spec.paper_source())
    skipped = [label if ": " in label else f"{label}: a paper row with no implementation in synaug"
               for label in spec.paper_only]
    notes, runs, details, left_out = [], {}, {}, skipped_rows(ctx, spec)
    for row in spec.rows:
        name, note = resolve_method(row)
        why = why_not_runnable(row, ctx, left_out) or (note if name is None else results.failed.get(slug(row.label)))
        if why:
            skipped.append(f"{row.label}: {why}")
            continue
        runs[row.label] = results.row(ctx.ws, slug(row.label))
        table.rows[row.label] = row_stats(runs[row.label], task.metrics, ctx.config.bootstrap)
        details[row.label] = row_details(name, results.runs(slug(row.label)), task.cell_metrics, spec.describe)
        notes += [f"{row.label}: {note}"] if note else []
        numbers = paper.row_numbers(row.paper, ctx.config.data.imbalance) if row.paper else {}
        if numbers:
            table.paper[row.label] = numbers
        if row.paper and paper.flag(row.paper):
            notes.append(f"paper row {row.label}: {paper.flag(row.paper)}")
        for seed, m in results.runs(slug(row.label)):
            ctx.log(run_line(row.label, seed, m, task.metrics))
    table.note = " ".join([spec.note, *notes]).strip()
    findings = evaluate_claims(list(spec.claims), runs, Finding, ctx.config.bootstrap)
    chance, flagged = chance_flags(details)
    return ExperimentResult(tables=[table], findings=findings, skipped=skipped, rows=details, chance=chance,
                            at_chance=flagged)


def run_line(label: str, seed: int, m: dict, keys) -> str:
    """One run as the log shows it: the task's metrics, its training time, flagged at chance."""
    shown = "  ".join(f"{metric(k).label} {metric(k).format(m.get(k))}" for k in keys)
    seconds = f"  ({m['train_seconds']:.0f}s)" if isinstance(m.get("train_seconds"), (int, float)) else ""
    return f"  {label:<17} seed {seed}: {shown}{seconds}{'  AT CHANCE' if m.get('at_chance') else ''}"


def row_details(method: str, runs: list[tuple[int, dict]], cells: bool, describe: bool) -> dict:
    """A row's runs as results.json keeps them: its method, per seed its metrics (without the per-image
    predictions, which stay in each run's record), and its mean per-class (and, on grouped data, per-cell)
    accuracy over seeds."""
    seeds = {str(s): {k: v for k, v in m.items() if k not in ("predictions", "rescored")} for s, m in runs}
    out = {"method": method, **({"description": get_method(method).description} if describe else {}),
           "seeds": seeds, "per_class_mean": mean_of(seeds, "per_class")}
    if cells and all(isinstance(m.get("per_cell"), dict) for m in seeds.values()):
        out["per_cell_mean"] = mean_dict(seeds, "per_cell")
    return out


def chance_flags(rows: dict) -> tuple[dict | None, list[str]]:
    """(the test set's chance level, the rows at or near it): a row is flagged when its mean accuracy
    over seeds is near chance (`synaug.eval.chance`); each row records its mean and the seeds at chance."""
    chance = next((m["chance"] for r in rows.values() for m in r["seeds"].values() if m.get("chance")), None)
    flagged = []
    for name, row in rows.items():
        accs = [m["accuracy"] for m in row["seeds"].values() if m.get("accuracy") is not None]
        row["accuracy_mean"] = float(np.mean(accs)) if accs else None
        row["seeds_at_chance"] = [int(s) for s, m in row["seeds"].items() if m.get("at_chance")]
        row["at_chance"] = bool(chance) and near_chance(row["accuracy_mean"], chance)
        if row["at_chance"]:
            flagged.append(name)
    return chance, flagged


def mean_of(per_seed: dict, key: str) -> list | None:
    """The mean over seeds of a per-class list (None where a run lacks it, e.g. a record without it)."""
    if not per_seed or not all(isinstance(r.get(key), list) for r in per_seed.values()):
        return None
    arr = np.array([[np.nan if a is None else a for a in r[key]] for r in per_seed.values()], dtype=float)
    with np.errstate(all="ignore"):
        return [None if np.isnan(v) else float(v) for v in np.nanmean(arr, 0)]


def mean_dict(per_seed: dict, key: str) -> dict:
    names = list(next(iter(per_seed.values()))[key])
    return {n: float(np.mean([r[key][n] for r in per_seed.values()])) for n in names}


def run_spec(cfg: RunConfig) -> TableSpec:
    """`synaug run` / `demo` as a table: one row per method of the config, named by it, no claims."""
    return TableSpec(f"{cfg.task}: {cfg.data.dataset}", rows=tuple(Row(m, m) for m in cfg.methods), claims=(),
                     describe=True)


def table_experiment(name: str, title: str, paper_text: str, dataset: str, spec: TableSpec, tiny: dict,
                     task: str = "longtail", defaults: dict | None = None) -> Experiment:
    return Experiment(name, title, paper_text, dataset, jobs=lambda ctx: row_jobs(ctx, spec),
                      collect=lambda ctx, results: collect_table(ctx, spec, results), tiny=tiny, task=task,
                      defaults=defaults or {}, partial=True)


SMALL = {"steps": 4, "stage2_steps": 2, "batch_size": 16, "dfr_refits": 1, "checkpoint_every": 1000}
# tests: a few steps, and plans that fill every cell to 100 images only (U-100: ~100-160 images, seconds)
TINY_LT = {"imbalance": 10, "train": SMALL, "seeds": [0], "plan": {"strategy": "U-100"}, "bootstrap": 100}
TINY_GROUPS = {"train": SMALL, "seeds": [0], "plan": {"strategy": "U-100"}, "bootstrap": 100}
