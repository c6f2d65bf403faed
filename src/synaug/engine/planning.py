"""A plan fitted to a training set: which synthetic images to add per cell (items with prompt,
modifier and seed) AND which real images to keep (a U-beta plan cuts the cells above beta, a seeded
subset), checked against the generator that will draw it. `synaug plan`, the engine's synthetic
sets and `synaug train --synthetic` all read the same fitted plan, so every job trains on exactly
the counts plan.json states."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from synaug.data.imageset import ImageSet
from synaug.engine.specs import GeneratorSpec, PlanSpec, as_dict
from synaug.errors import PlanError, did_you_mean
from synaug.generators.base import make_generator
from synaug.generators.runner import check_drawable
from synaug.plans import (KEPT_RULE, PlanItem, build_plan, cell_table, first_per_cell, kept_digest, plan_counts,
                         real_cuts)
from synaug.prompts import bank_for_dataset, load_bank

PLAN_CAP = 5_000_000  # images one plan may ask for: above it a typo (U-1000000000) would exhaust memory


@dataclass
class FittedPlan:
    items: list[PlanItem]
    meta: dict               # plan.json: settings, per-cell table, undrawable cells, the real images kept
    kept: np.ndarray         # indices of the training images the plan keeps (all but a U-beta cut)


def planned_cells(train: ImageSet, use_groups: bool) -> ImageSet:
    """The set a plan counts: class x group cells when asked and present, else classes."""
    return train if use_groups and train.has_groups else train.without_groups()


def saved_shape(train: ImageSet, side: int | None = None) -> tuple:
    """(H, W, C) synthetic images are saved at: `side` x `side` (the training side) when given, else
    the real images' shape as the dataset reader gives it."""
    H, W, C = train.image_shape
    return (int(side), int(side), C) if side else (H, W, C)


def generator_context(train: ImageSet, use_groups: bool, aliases: dict | None = None,
                      unused: ImageSet | None = None, side: int | None = None, render_words: dict | None = None) -> dict:
    """The facts of `train` a generator may declare (`synaug.generators.base.CONTEXT`), shaped like the
    planned cells: the real images and the unused pool with or without their groups."""
    grouped = use_groups and train.has_groups
    pool = None if unused is None else planned_cells(unused, grouped) if unused.has_groups else unused
    return {"image_shape": saved_shape(train, side), "class_names": list(train.class_names),
            "group_names": list(train.group_names) if grouped else None, "aliases": dict(aliases or {}),
            "render_words": dict(render_words or {}),
            "unspecified_groups": list(train.group_names) if train.has_groups and not grouped else [],
            "real": planned_cells(train, grouped), "unused": pool}


def fit_plan(train: ImageSet, spec: PlanSpec, generator: GeneratorSpec, dataset: str = "",
             unused: ImageSet | None = None, side: int | None = None) -> FittedPlan:
    """The plan of `spec` for `train`, checked against `generator` (cells it cannot draw keep their
    real images only, listed in meta["undrawable"] and meta["below_target"]); images are to be saved
    at `side` px (default: the real images' size)."""
    planned = planned_cells(train, spec.use_groups)
    grouped = planned.has_groups
    counts, space = planned.cell_counts(), planned.cell_space
    strategy = spec.strategy_value(space)
    to_add = plan_counts(counts, strategy)
    cuts = real_cuts(counts, strategy)
    check_plan_size(spec, to_add, cuts, counts)
    bank = load_bank(spec.modifiers or bank_for_dataset(dataset), spec.template)
    for given, into in ((spec.aliases, bank.aliases), (spec.render_words, bank.render_words)):
        into.update({train.class_names[space.class_index(k)]: str(v) for k, v in as_dict(given).items()})
    check_bank_names(bank, train, given=bool(spec.modifiers))
    items = build_plan(to_add, train.class_names, bank, seed=spec.seed,
                       group_names=train.group_names if grouped else None)
    context = generator_context(train, spec.use_groups, bank.aliases, unused, side, bank.render_words)
    undrawable = check_drawable(items, make_generator(generator.name, context, **as_dict(generator.options)))
    kept = first_per_cell(planned.cells(), {i: n - cuts[k] for i, (k, n) in enumerate(counts.items()) if cuts[k]},
                          spec.seed)
    meta = plan_meta(planned, counts, to_add, cuts, bank, spec, generator, dataset, undrawable, kept, len(items))
    meta.update(unspecified_groups=context["unspecified_groups"], image_shape=list(context["image_shape"]))
    return FittedPlan(items, meta, kept)


def strategy_text(spec: PlanSpec) -> str:
    """The strategy as the user wrote it: a name, or the {cell: final count} mapping as JSON."""
    return json.dumps(dict(spec.strategy)) if isinstance(spec.strategy, tuple) else str(spec.strategy)


def check_plan_size(spec: PlanSpec, to_add: dict, cuts: dict, counts: dict) -> None:
    """Before a single item is built: at most PLAN_CAP images (a typo would exhaust memory first), and
    some image left to train on."""
    total = sum(to_add.values())
    if total > PLAN_CAP:
        raise PlanError(f"strategy {strategy_text(spec)} asks for {total:,} synthetic images, more than synaug plans "
                        f"at once ({PLAN_CAP:,}); check the strategy (a U-beta or LT+alpha typo?)")
    if total + sum(counts.values()) - sum(cuts.values()) == 0:
        raise PlanError(f"strategy {strategy_text(spec)} leaves no image to train on (it removes every real image "
                        "and adds none)")


def check_bank_names(bank, train: ImageSet, given: bool) -> None:
    """Aliases, and the classes and groups a user's bank names, must be the data's: a name that matches
    none would be silently unused (a typo, or a bank made for other data)."""
    named = [("alias for", list(bank.aliases), train.class_names),
             ("render word for", list(bank.render_words), train.class_names)]
    if given:
        named.append(("modifier bank class", list(bank.classes), train.class_names))
        if train.has_groups:
            named.append(("modifier bank group", list(bank.groups), train.group_names))
    for what, names, known in named:
        for name in names:
            if name not in known:
                raise PlanError(f"{what} {name!r}, which is not a {'group' if 'group' in what else 'class'} of this "
                                f"dataset{did_you_mean(name, known)} (known: {list(known)})")


def plan_meta(planned: ImageSet, counts, to_add, cuts, bank, spec: PlanSpec, generator: GeneratorSpec,
              dataset: str, undrawable: dict, kept: np.ndarray, n_items: int) -> dict:
    """plan.json: the settings, the per-cell table, what the generator cannot draw, the real images kept."""
    cells = cell_table(counts, to_add, cuts, planned.cell_space.name)
    # cells the generator cannot draw keep their real images only: say which and how many
    below = [dict(cell=r["name"], final=r["real"] - r["cut"], target=r["final"])
             for r in cells if r["name"] in undrawable and r["add"] > 0]
    finals = [r["real"] - r["cut"] if r["name"] in undrawable else r["final"] for r in cells]
    meta = dict(dataset=dataset, strategy=strategy_text(spec), seed=spec.seed, template=bank.template,
                modifiers=spec.modifiers or bank_for_dataset(dataset) or "generic",
                image_shape=list(planned.image_shape), class_names=list(planned.class_names),
                group_names=list(planned.group_names) if planned.has_groups else None,
                generator=generator.name, generator_options=as_dict(generator.options), cells=cells,
                undrawable=undrawable, images=n_items, uniform=len(set(finals)) == 1, below_target=below,
                real_kept=dict(rule=KEPT_RULE, seed=spec.seed, images=int(len(kept)), digest=kept_digest(kept),
                               cut=int(sum(cuts.values()))))
    if bank.aliases:
        meta["aliases"] = dict(bank.aliases)
    if bank.render_words:
        meta["render_words"] = dict(bank.render_words)
    return meta


def kept_from_meta(train: ImageSet, meta: dict) -> np.ndarray:
    """The real images a plan keeps, recomputed on `train` from plan.json (its per-cell table and
    seed), checked against the digest the plan recorded: a plan made for other data is refused."""
    record = meta.get("real_kept") or {}
    if not record.get("cut"):
        return np.arange(len(train))
    planned = planned_cells(train, meta.get("group_names") is not None)
    rows = meta["cells"]
    if [r["real"] for r in rows] != list(planned.cell_counts().values()):
        raise PlanError("the plan was made for other data: its cells' real counts "
                        f"{[r['real'] for r in rows]} differ from this training set's "
                        f"{list(planned.cell_counts().values())}")
    kept = first_per_cell(planned.cells(), {i: r["real"] - r["cut"] for i, r in enumerate(rows) if r["cut"]},
                          int(record["seed"]))
    if kept_digest(kept) != record.get("digest"):
        raise PlanError("the plan's kept real images do not match this training set (another dataset, "
                        "imbalance or subset seed?); re-run `synaug plan` on this data")
    return kept


def plan_notes(meta: dict) -> list[str]:
    """What a plan leaves out, one line each: cells the generator cannot draw, and the loud warning
    when the plan is not uniform because of them (printed the same by `plan`, `run` and `demo`)."""
    notes = [f"WARNING: generator '{meta.get('generator')}' cannot draw {cell!r}: {reason}"
             for cell, reason in meta["undrawable"].items()]
    below = meta.get("below_target") or []
    if below:
        cells = ", ".join(f"{b['cell']} ({b['final']} of {b['target']})" for b in below)
        notes.append(f"WARNING: the plan is NOT {'uniform' if meta.get('strategy') == 'uniform' else 'as asked'}: "
                     f"{len(below)} cell(s) stay below the target because generator '{meta.get('generator')}' "
                     f"cannot draw them (final count of target): {cells}")
    return notes


def format_cell_table(rows: list[dict]) -> str:
    """The plan's cell table as text; `key` is what a strategy or render word may name a cell by,
    besides its name (`synaug.cells.CellSpace.key_of`)."""
    name_w = max(len("cell"), *(len(r["name"]) for r in rows))
    key_w = max(len("key"), *(len(str(r["cell"])) for r in rows))
    lines = [f"{'key':>{key_w}}  {'cell':<{name_w}}  {'real':>7} {'cut':>6} {'add':>7} {'final':>7}"]
    for r in rows:
        lines.append(f"{r['cell']:>{key_w}}  {r['name']:<{name_w}}  {r['real']:>7} {r['cut']:>6} {r['add']:>7} "
                     f"{r['final']:>7}")
    tot = {k: sum(r[k] for r in rows) for k in ("real", "cut", "add", "final")}
    lines.append(f"{'':>{key_w}}  {'total':<{name_w}}  {tot['real']:>7} {tot['cut']:>6} {tot['add']:>7} "
                 f"{tot['final']:>7}")
    return "\n".join(lines)
