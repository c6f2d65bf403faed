"""The paper's tables as named experiments: each row is a method (and the generator of its synthetic
images) trained over the seeds through `ExperimentContext.train_eval`; the columns are the metrics
of the experiment's task (synaug.experiments.tasks); the paper's numbers stand beside each row where
the paper reports them; each claim the paper draws from a table becomes a `Finding` computed from
the mean over seeds (the rule is stated in the finding's evidence; nothing is selected on test).

A row whose method or generator is not in this synaug (e.g. a method another part adds later) is
skipped with the reason recorded, so an experiment runs before and after such additions.

Paper numbers are copied from the ICML paper text (Tables 1-5) and, where only it gives them
(Many / Medium / Few of the Table 5 baselines), the workshop paper's Table 1.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import yaml

from synaug.errors import SynaugError, check_keys
from synaug.experiments.aggregate import mean_std
from synaug.experiments.catalog import (Experiment, ExperimentContext, ExperimentResult, Finding, Table,
                                        register_experiment)
from synaug.experiments.tasks import TASKS
from synaug.fileio import atomic_write_text
from synaug.generators import GENERATORS
from synaug.prompts import bank_for_dataset, load_bank
from synaug.train.methods import get_method


@dataclass(frozen=True)
class Row:
    label: str                       # the row's name in the table
    method: str                      # a registered method name (or a composed one, e.g. uniformize+rs)
    generator: str | None = None     # the generator of its synthetic images (None: the config's)
    img2img: str | None = None       # image-translation baseline: diffusion guided by real images
    plan: str | None = None          # "no-modifiers": one plain modifier for every image (Table 1 a)
    paper: dict = field(default_factory=dict)  # {imbalance factor or "*": {metric key: paper number}}
    fallback: tuple = ()             # method names to run if `method` is not registered (noted)


# ----------------------------------------------------------------------------- rows -> table
def summary_row(per_seed: list[dict], keys, seeds) -> dict:
    """{key: {"mean", "std", "seeds", "n"}}: the mean and sample std (ddof=1; 0 for one seed) of
    each metric over the seeds, and the per-seed values in seed order."""
    row = {}
    for k in keys:
        values = [m.get(k) for m in per_seed]
        mean, std = mean_std(values)
        row[k] = {"mean": mean, "std": std, "seeds": values, "n": sum(v is not None for v in values),
                  "seed_ids": list(seeds)}
    return row


def resolve_method(row: Row) -> tuple[str | None, str]:
    """The method name a row runs (its own, else the first registered fallback) and a note; None
    with the reason when neither is registered."""
    for i, name in enumerate((row.method, *row.fallback)):
        try:
            get_method(name)
        except SynaugError:
            continue
        note = "" if i == 0 else f"{row.method} is not registered here: ran {name} instead"
        return name, note
    return None, (f"method {row.method!r} is not registered in this synaug"
                  + (f" (nor {', '.join(row.fallback)})" if row.fallback else ""))


def why_not_runnable(row: Row, cfg: dict) -> str | None:
    """Why a row cannot run with this config, or None."""
    if row.img2img and cfg["generate"]["generator"] != "diffusion":
        return ("not runnable here: image translation needs the diffusion generator (a config with "
                "generate: {generator: diffusion, options: {model: ...}})")
    if row.generator and row.generator not in GENERATORS:
        return f"generator {row.generator!r} is not registered in this synaug"
    return None


def no_modifier_bank(ctx: ExperimentContext) -> str:
    """A modifier bank with one plain modifier (Table 1 a: prompts without class-related modifiers),
    keeping the dataset bank's template and group phrases; written into the shared folder."""
    bank = load_bank(ctx.config["plan"].get("modifiers") or bank_for_dataset(ctx.config["dataset"]),
                     ctx.config["plan"].get("template"))
    path = ctx.shared / f"no-modifiers-{ctx.config['dataset'].partition(':')[0]}.yaml"  # one per dataset's bank
    ctx.shared.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump({"template": bank.template, "default": ["a"], "groups": dict(bank.groups)})
    if not path.is_file() or path.read_text() != text:
        atomic_write_text(path, text)
    return str(path)


def row_synthetic(ctx: ExperimentContext, row: Row, method, splits):
    """The synthetic images a row's method trains on (None for methods without synthetic data)."""
    if not method.synthetic:
        return None
    options = None
    if row.img2img:
        options = {**(ctx.config["generate"].get("options") or {}), "img2img": row.img2img,
                   "guidance_images": splits.train}
    plan = {"modifiers": no_modifier_bank(ctx)} if row.plan == "no-modifiers" else None
    return ctx.synthetic(splits, strategy=ctx.config["plan"]["strategy"], use_groups=method.use_groups,
                         generator=row.generator, generator_options=options, plan_options=plan)


def slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9+.-]+", "-", label).strip("-").lower() or "row"


def paper_numbers(row: Row, cfg: dict) -> dict:
    """The paper's numbers for this row at the config's imbalance factor (long tail) or any ("*")."""
    if "*" in row.paper:
        return dict(row.paper["*"])
    imbalance = cfg["imbalance"]
    return dict(row.paper.get(int(imbalance), {})) if float(imbalance).is_integer() else {}


def run_row(ctx: ExperimentContext, row: Row, splits, keys) -> tuple[dict | None, str]:
    """One row over the seeds: (its summary, a note) or (None, why it was skipped)."""
    why = why_not_runnable(row, ctx.config)
    name, note = resolve_method(row)
    if why or name is None:
        return None, why or note
    method = get_method(name)
    try:
        synthetic = row_synthetic(ctx, row, method, splits)
    except SynaugError as exc:
        if row.generator is None:  # the config's own generator failing is the user's error: say it
            raise
        return None, f"generator {row.generator!r} could not run: {exc}"
    per_seed = [ctx.train_eval(name, splits, slug(row.label), seed, synthetic=synthetic) for seed in ctx.seeds]
    for seed, metrics in zip(ctx.seeds, per_seed):
        shown = "  ".join(f"{k} {metrics.get(k)}" if metrics.get(k) is None else f"{k} {metrics[k]:.2f}"
                          for k in keys[:4])
        ctx.log(f"  {row.label:<34} seed {seed}: {shown}")
    return summary_row(per_seed, keys, ctx.seeds), note


def run_table(ctx: ExperimentContext, title: str, rows: list[Row], source: str, note: str = "",
              paper_only: tuple = ()) -> tuple[Table, list[str]]:
    """Every row over the seeds into a Table with the task's columns; the skipped rows with why."""
    check_keys(ctx.config.get("options") or {}, (), "experiment options (a table takes none: its rows are its own)")
    task = TASKS[ctx.config["task"]]
    splits = ctx.splits()
    table = Table(title, list(task.keys), labels=list(task.labels), fmt=list(task.fmt), note=note,
                  paper_source=source)
    # a paper row this table does not run: its own reason when it gives one ("NAME: why"), else this
    skipped = [label if ": " in label else f"{label}: a paper row with no implementation in synaug"
               for label in paper_only]
    notes = []
    for row in rows:
        summary, why = run_row(ctx, row, splits, task.keys)
        if summary is None:
            skipped.append(f"{row.label}: {why}")
            continue
        table.rows[row.label] = summary
        if why:
            notes.append(f"{row.label}: {why}")
        paper = paper_numbers(row, ctx.config)
        if paper:
            table.paper[row.label] = paper
    table.note = " ".join([note, *notes]).strip()
    return table, skipped


# ----------------------------------------------------------------------------- findings
def compare(table: Table, better: str, worse: str, keys, claim: str, lower: bool = False,
            mode: str = "all") -> Finding:
    """A claim 'row `better` beats row `worse` on `keys`' checked on the means over seeds: reproduced
    when the mean of `better` is higher (lower with `lower`) on every key (`mode`="all") or on at
    least one (`mode`="any"); "not runnable here" when a row was not run."""
    missing = [r for r in (better, worse) if r not in table.rows]
    if missing:
        return Finding(claim, "not runnable here", f"row(s) not run here: {', '.join(missing)}")
    parts, wins = [], []
    for k in keys:
        a, b = table.rows[better][k]["mean"], table.rows[worse][k]["mean"]
        if a is None or b is None:
            return Finding(claim, "not runnable here", f"{k} is undefined for {better if a is None else worse}")
        diff = (b - a) if lower else (a - b)
        wins.append(diff > 0)
        spread = max(table.rows[better][k]["std"] or 0.0, table.rows[worse][k]["std"] or 0.0)
        noise = " (within one std over seeds)" if 0 < abs(diff) <= spread else ""
        parts.append(f"{k}: {better} {a:.4g} vs {worse} {b:.4g}{noise}")
    ok = all(wins) if mode == "all" else any(wins)
    rule = (f"rule: mean over {len(table.rows[better][keys[0]]['seeds'])} seed(s) {'lower' if lower else 'higher'} "
            f"on {'every' if mode == 'all' else 'at least one'} metric")
    return Finding(claim, "reproduced" if ok else "not reproduced", "; ".join(parts) + f" ({rule})")


def best_of(table: Table, row: str, key: str, claim: str) -> Finding:
    """A claim 'row has the highest `key` of the rows run'."""
    if row not in table.rows or len(table.rows) < 2:
        return Finding(claim, "not runnable here", f"row {row} or its competitors not run here")
    others = {n: r[key]["mean"] for n, r in table.rows.items() if n != row and r[key]["mean"] is not None}
    mine = table.rows[row][key]["mean"]
    if mine is None or not others:
        return Finding(claim, "not runnable here", f"{key} is undefined for {row} or every other row")
    top = max(others, key=others.get)
    return Finding(claim, "reproduced" if mine > others[top] else "not reproduced",
                   f"{key}: {row} {mine:.4g}, best other {top} {others[top]:.4g} (rule: mean over seeds higher "
                   f"than every other row run)")


def result_of(table: Table, skipped: list[str], findings: list[Finding]) -> ExperimentResult:
    return ExperimentResult(tables=[table], findings=findings, skipped=skipped)


# ----------------------------------------------------------------------------- paper numbers
def lt(all_100, all_50=None, all_10=None, many=None, medium=None, few=None) -> dict:
    """Long-tail paper numbers: All at IF 100 / 50 / 10, Many / Medium / Few at IF 100."""
    at100 = {"accuracy": all_100, **({"many": many, "medium": medium, "few": few} if many is not None else {})}
    out = {100: at100}
    if all_50 is not None:
        out[50] = {"accuracy": all_50}
    if all_10 is not None:
        out[10] = {"accuracy": all_10}
    return out


def fair(acc, dp, ed, eo) -> dict:
    """Fairness paper numbers (UTKFace, ResNet18; the paper's column order: Accuracy, DP, ED, EO)."""
    return {"*": {"accuracy": acc, "dp": dp, "ed": ed, "eo": eo}}


def spur(worst, mean) -> dict:
    """Waterbirds paper numbers: worst-group and (train-weighted) mean accuracy."""
    return {"*": {"worst_group": worst, "mean_weighted": mean}}


PAPER_CE = lt(37.96, 43.54, 59.50, 68.31, 36.88, 4.87)
PAPER_SYNAUG = lt(58.59, 61.36, 69.01, 74.06, 56.63, 42.83)
PAPER_ERM_FAIR = fair(93.9, 0.08174, 0.06320, 0.07790)
PAPER_UNIFORMIZE_FAIR = fair(94.0, 0.06995, 0.05630, 0.06825)
LT_SOURCE = "CIFAR100-LT, ResNet32, top-1 accuracy (%); All at IF 100 / 50 / 10, Many / Medium / Few at IF 100"
FAIR_SOURCE = "UTKFace (age classes, gender as the sensitive attribute), ResNet18"
SMALL = {"steps": 4, "stage2_steps": 2, "batch_size": 16, "dfr_refits": 1, "checkpoint_every": 1000}
# tests: a few steps, and plans that fill every cell to 100 images only (U-100: ~100-160 images, seconds)
TINY_LT = {"imbalance": 10, "train": SMALL, "seeds": [0], "plan": {"strategy": "U-100"}}
TINY_GROUPS = {"train": SMALL, "seeds": [0], "plan": {"strategy": "U-100"}}


# ----------------------------------------------------------------------------- Table 1
TABLE1_ROWS = [
    Row("CE (reference)", "ce", paper=PAPER_CE),
    Row("(a) uniformize, no modifiers", "uniformize", plan="no-modifiers", paper=lt(52.41, 56.99, 66.34)),
    Row("(b) + modifiers", "uniformize", paper=lt(53.54, 57.09, 66.66)),
    Row("(c) + Mixup", "uniformize-mixup", paper=lt(55.45, 58.69, 66.84)),
    Row("(d) + re-train last layer", "synaug-retrain", paper=lt(57.31, 60.34, 67.90)),
    Row("(e) + fine-tune last layer (SYNAuG)", "synaug", paper=lt(58.59, 61.36, 69.01)),
]


def table1(ctx: ExperimentContext) -> ExperimentResult:
    a, b, c, d, e = (r.label for r in TABLE1_ROWS[1:])
    table, skipped = run_table(ctx, "Table 1: components of SYNAuG (uniformize, modifiers, Mixup, last layer)",
                               TABLE1_ROWS, "ICML Table 1 (" + LT_SOURCE + "; CE from Table 2)",
                               note="(a) draws every synthetic image with one plain modifier; (b) with the "
                                    "dataset's modifier bank (for `render`: styles, strokes, shades).")
    acc = ["accuracy"]
    return result_of(table, skipped, [
        compare(table, b, a, acc, "Class-related modifiers in the prompt help: (b) > (a) on All"),
        compare(table, c, b, acc, "Mixup between real and synthetic images helps: (c) > (b) on All"),
        compare(table, d, c, acc, "Re-training the last layer on real data helps: (d) > (c) on All"),
        compare(table, e, d, acc, "Fine-tuning the last layer beats re-training it: (e) > (d) on All"),
        compare(table, e, "CE (reference)", acc, "SYNAuG beats CE on All"),
    ])


# ----------------------------------------------------------------------------- Table 2
TABLE2_ROWS = [
    Row("ce", "ce", paper=PAPER_CE),
    Row("ce-rs", "ce-rs"),
    Row("ce-drw", "ce-drw"),
    Row("balanced-softmax", "balanced-softmax"),
    Row("ldam-drw", "ldam-drw"),
    Row("ce-cmo", "ce-cmo", paper=lt(43.9, 48.3, 59.5, 70.4, 42.5, 14.4)),
    Row("ldam-drw-cmo", "ldam-drw-cmo", paper=lt(47.2, 51.7, 58.4, 61.5, 48.6, 28.8)),
    Row("wb", "wb", paper=lt(53.35, 57.71, 68.67, 72.60, 51.86, 32.63)),
    Row("synaug", "synaug", paper=PAPER_SYNAUG),
]


def table2(ctx: ExperimentContext) -> ExperimentResult:
    table, skipped = run_table(ctx, "Table 2: SYNAuG vs long-tail baselines", TABLE2_ROWS,
                               "ICML Table 2 (" + LT_SOURCE + "; LDAM + CMO is the ldam-drw-cmo row, Weight "
                               "Balancing the wb row)",
                               paper_only=("SSD (ICCV'21)", "PaCo (ICCV'21)", "RISDA (AAAI'21)",
                                           "RIDE (3 experts) + CMO (CVPR'22)"))
    return result_of(table, skipped, [
        compare(table, "synaug", "ce", ["accuracy"], "SYNAuG beats CE on All"),
        compare(table, "synaug", "ce", ["few"], "SYNAuG beats CE on Few"),
        compare(table, "synaug", "ce", ["many", "medium"], "SYNAuG beats CE on Many and Medium too (the paper: "
                "74.06 / 56.63 vs 68.31 / 36.88)"),
        best_of(table, "synaug", "accuracy", "SYNAuG has the best All of the methods run"),
    ])


# ----------------------------------------------------------------------------- Table 3
FAIR_KEYS = ["dp", "eo", "ed"]
TABLE3A_ROWS = [Row("erm", "erm", paper=fair(93.9, 0.0817, 0.0632, 0.0779)),
                Row("synaug", "synaug", paper=fair(94.1, 0.0600, 0.0462, 0.0434))]
TABLE3B_ROWS = [
    Row("erm", "erm", paper=PAPER_ERM_FAIR),
    Row("erm + Group-DRO", "group-dro", paper=fair(93.9, 0.07266, 0.05819, 0.06954)),
    Row("erm + RS", "rs", paper=fair(93.8, 0.06360, 0.04663, 0.05808)),
    Row("SYNAuG (uniformize)", "uniformize", paper=PAPER_UNIFORMIZE_FAIR),
    Row("SYNAuG + Group-DRO", "uniformize+group-dro", fallback=("synaug+group-dro",),
        paper=fair(93.9, 0.07110, 0.05433, 0.07045)),
    Row("SYNAuG + RS", "uniformize+rs", fallback=("synaug+rs",), paper=fair(93.6, 0.06786, 0.06439, 0.08120)),
]
TABLE3C_ROWS = [
    Row("erm", "erm", paper=PAPER_ERM_FAIR),
    Row("erm + Mixup", "mixup", paper=fair(93.9, 0.07266, 0.05819, 0.06954)),
    Row("erm + CutMix", "cutmix", paper=fair(94.7, 0.08265, 0.06245, 0.08333)),
    Row("SYNAuG (uniformize)", "uniformize", paper=PAPER_UNIFORMIZE_FAIR),
    Row("SYNAuG + Mixup", "uniformize-mixup", paper=fair(94.2, 0.06400, 0.03793, 0.04658)),
    Row("SYNAuG + CutMix", "uniformize-cutmix", fallback=("uniformize+cutmix",),
        paper=fair(94.9, 0.07430, 0.04745, 0.06319)),
]
TABLE3D_ROWS = [
    Row("erm", "erm", paper=PAPER_ERM_FAIR),
    Row("SYNAuG* (uniformize classes only, no sensitive attribute)", "uniformize-classes",
        paper=fair(94.0, 0.07342, 0.05805, 0.07253)),
    Row("SYNAuG (uniformize class x group cells)", "uniformize", paper=PAPER_UNIFORMIZE_FAIR),
    Row("full SYNAuG*, classes only (+ Mixup, fine-tuning)", "synaug-classes"),
    Row("full SYNAuG*, random Mixup partners", "synaug-classes-random"),
    Row("full SYNAuG, cells (+ Mixup, fine-tuning)", "synaug"),
]


def table3a(ctx: ExperimentContext) -> ExperimentResult:
    table, skipped = run_table(ctx, "Table 3(a): accuracy and fairness, ERM vs SYNAuG", TABLE3A_ROWS,
                               "ICML Table 3(a), " + FAIR_SOURCE)
    return result_of(table, skipped, [
        compare(table, "synaug", "erm", ["accuracy"], "SYNAuG keeps (or raises) ERM's accuracy"),
        compare(table, "synaug", "erm", FAIR_KEYS, "SYNAuG is fairer than ERM: DP, EO and ED all lower", lower=True),
    ])


def table3b(ctx: ExperimentContext) -> ExperimentResult:
    syn = "SYNAuG (uniformize)"
    table, skipped = run_table(ctx, "Table 3(b): SYNAuG with fairness algorithms (no Mixup, no fine-tuning)",
                               TABLE3B_ROWS, "ICML Table 3(b), " + FAIR_SOURCE)
    return result_of(table, skipped, [
        compare(table, "erm + Group-DRO", "erm", FAIR_KEYS, "Group-DRO improves ERM's fairness (DP, EO, ED lower)",
                lower=True),
        compare(table, "erm + RS", "erm", FAIR_KEYS, "RS improves ERM's fairness (DP, EO, ED lower)", lower=True),
        compare(table, syn, "erm", FAIR_KEYS, "Uniformizing with synthetic data improves ERM's fairness", lower=True),
        compare(table, "SYNAuG + Group-DRO", syn, FAIR_KEYS, "Group-DRO improves SYNAuG in some fairness metric",
                lower=True, mode="any"),
        compare(table, "SYNAuG + RS", syn, FAIR_KEYS, "RS improves SYNAuG in some fairness metric", lower=True,
                mode="any"),
    ])


def table3c(ctx: ExperimentContext) -> ExperimentResult:
    table, skipped = run_table(ctx, "Table 3(c): augmentation after uniformization (no fine-tuning)",
                               TABLE3C_ROWS, "ICML Table 3(c), " + FAIR_SOURCE,
                               note="SYNAuG + Mixup pairs real with synthetic images (domain Mixup).")
    return result_of(table, skipped, [
        compare(table, "erm + CutMix", "erm", ["accuracy"], "CutMix improves ERM's accuracy"),
        compare(table, "SYNAuG + Mixup", "erm + Mixup", ["accuracy"],
                "SYNAuG + Mixup is more accurate than ERM + Mixup"),
        compare(table, "SYNAuG + Mixup", "erm + Mixup", FAIR_KEYS,
                "SYNAuG + Mixup is fairer than ERM + Mixup (DP, EO, ED lower)", lower=True),
        compare(table, "SYNAuG + Mixup", "SYNAuG (uniformize)", FAIR_KEYS,
                "Mixup improves SYNAuG's fairness (DP, EO, ED lower)", lower=True),
    ])


def table3d(ctx: ExperimentContext) -> ExperimentResult:
    star, full = TABLE3D_ROWS[1].label, TABLE3D_ROWS[2].label
    table, skipped = run_table(ctx, "Table 3(d): balancing classes only vs class x group cells", TABLE3D_ROWS,
                               "ICML Table 3(d), " + FAIR_SOURCE + "; the paper's two rows are uniformization "
                               "without Mixup and fine-tuning (its SYNAuG row equals Table 3(b)'s), as the two "
                               "uniformize rows here; the full-recipe rows are added without paper numbers; ERM "
                               "from Table 3(b)")
    return result_of(table, skipped, [
        compare(table, full, star, ["dp"], "Using the sensitive attribute is more effective: SYNAuG's DP is lower "
                "than SYNAuG*'s", lower=True),
        compare(table, star, "erm", FAIR_KEYS, "Even without the sensitive attribute SYNAuG* is fairer than ERM "
                "(DP, EO, ED lower)", lower=True),
    ])


# SYNAuG before long-tail algorithms: the workshop paper's claim that synthetic data is "a preliminary
# step before employing task-specific algorithms"; the ICML paper's Table 3(b) tests it for fairness only.
LT_ALGORITHMS = ("balanced-softmax", "ldam-drw", "wb")
TABLE3B_LT_ROWS = [Row("ce", "ce", paper=PAPER_CE), *(Row(a, a) for a in LT_ALGORITHMS),
                   Row("synaug", "synaug", paper=PAPER_SYNAUG),
                   *(Row(f"synaug+{a}", f"synaug+{a}") for a in LT_ALGORITHMS)]


def table3b_lt(ctx: ExperimentContext) -> ExperimentResult:
    table, skipped = run_table(ctx, "SYNAuG as the first step of long-tail algorithms", TABLE3B_LT_ROWS,
                               "ICML Table 2 for CE and SYNAuG (" + LT_SOURCE + "); the paper has no numbers for "
                               "the combinations",
                               note="After uniformizing, every class has the same count, so an algorithm that acts "
                               "on class counts (Balanced Softmax's prior, LDAM's margins, DRW's and CB weights) "
                               "acts as on balanced data: synaug+balanced-softmax trains as synaug does; what "
                               "differs is the loss's form (LDAM's cosine head and scale, WB's weight decay and "
                               "MaxNorm stage 2).")
    return result_of(table, skipped, [
        compare(table, f"synaug+{a}", a, ["accuracy"], f"Uniformizing with synthetic data first improves {a} on All")
        for a in LT_ALGORITHMS])


# ----------------------------------------------------------------------------- Table 4
TABLE4_ROWS = [
    Row("erm (BaseModel)", "erm", paper=spur(73.7, 90.4)),
    Row("synaug", "synaug", paper=spur(79.9, 91.5)),
    Row("group-dro", "group-dro"),
    Row("dfr", "dfr", paper=spur(91.2, 93.1)),
    Row("SYNAuG (re-train): synaug-dfr", "synaug-dfr", paper=spur(92.9, 93.6)),
    Row("SYNAuG (fine-tuning): synaug-ft-val", "synaug-ft-val", paper=spur(93.2, 94.8)),
]


def table4(ctx: ExperimentContext) -> ExperimentResult:
    base, syn, dfr, rt, ft = (TABLE4_ROWS[i].label for i in (0, 1, 3, 4, 5))
    table, skipped = run_table(ctx, "Table 4: robustness to spurious correlation", TABLE4_ROWS,
                               "ICML Table 4, Waterbirds, mean over the paper's seeds (its std: BaseModel 3.04 / "
                               "0.21, SYNAuG 2.22 / 0.98, DFR 1.92 / 0.91, re-train 0.45 / 0.35, fine-tuning 0.42 / "
                               "0.11); its Mean is the train-weighted mean accuracy")
    worst = ["worst_group"]
    return result_of(table, skipped, [
        compare(table, syn, base, worst, "Synthetic data raises the BaseModel's worst-group accuracy"),
        compare(table, syn, base, ["mean_weighted"], "Synthetic data raises the BaseModel's mean accuracy"),
        compare(table, rt, dfr, worst, "With DFR, synthetic data raises the worst-group accuracy"),
        compare(table, ft, rt, worst, "Fine-tuning beats re-training the last layer (worst group)"),
    ])


# ----------------------------------------------------------------------------- Table 5
TABLE5_ROWS = [
    Row("ce", "ce", paper=PAPER_CE),
    Row("mixup", "mixup", paper=lt(36.21, 41.09, 56.82)),
    Row("cutmix", "cutmix", paper=lt(37.91, 43.54, 60.27)),
    Row("intra-class image translation", "synaug", img2img="intra",
        paper=lt(47.87, 53.33, 64.95, 71.86, 45.88, 22.97)),
    Row("inter-class image translation", "synaug", img2img="inter",
        paper=lt(47.17, 51.33, 64.11, 73.49, 45.77, 19.00)),
    Row("real held-out images (web-crawled stand-in)", "synaug", generator="heldout",
        paper=lt(54.06, 56.40, 63.86, 72.71, 51.21, 36.13)),
    Row("SMOTE images", "synaug", generator="smote"),
    Row("SYNAuG (the config's generator)", "synaug", paper=PAPER_SYNAUG),
]


def table5(ctx: ExperimentContext) -> ExperimentResult:
    syn = TABLE5_ROWS[-1].label
    table, skipped = run_table(
        ctx, "Table 5: where the additional images come from", TABLE5_ROWS,
        "ICML Table 5 (All at IF 100 / 50 / 10) and the workshop paper's Table 1 (Many / Medium / Few of the "
        "baselines at IF 100), " + LT_SOURCE, note="Every row but ce, mixup and cutmix is SYNAuG (uniformize, "
        "domain Mixup, fine-tune) with images from another source.",
        paper_only=("Class Distribution Fitting: not runnable with the offline renderer (a diffusion model "
                    "fine-tuned per class, DreamBooth-style); with Stable Diffusion, fit per-class LoRA adapters "
                    "with `synaug fit-lora --dataset D --model SD --out DIR` and run this experiment with a config "
                    "whose generator is diffusion with options {lora: DIR}: the SYNAuG row is then this baseline",))
    acc = ["accuracy"]
    return result_of(table, skipped, [
        compare(table, syn, "ce", acc, "SYNAuG beats CE on All"),
        compare(table, syn, "mixup", acc, "SYNAuG beats Mixup on All"),
        compare(table, syn, "cutmix", acc, "SYNAuG beats CutMix on All"),
        compare(table, syn, TABLE5_ROWS[5].label, acc, "Generated images beat real web images (here: held-out real "
                "images) on All"),
        compare(table, syn, TABLE5_ROWS[3].label, acc, "SYNAuG beats intra-class image translation on All"),
        compare(table, syn, TABLE5_ROWS[4].label, acc, "SYNAuG beats inter-class image translation on All"),
    ])


# ----------------------------------------------------------------------------- registry
for _e in [
    Experiment("table1", "SYNAuG component ablation", "ICML Table 1 / workshop Table 2: uniformize, modifiers, "
               "Mixup, re-train vs fine-tune the last layer (CIFAR100-LT)", "mnist-lt", table1, tiny=TINY_LT),
    Experiment("table2", "SYNAuG vs long-tail baselines", "ICML Table 2 / workshop Table 1: CE, re-sampling, DRW, "
               "Balanced Softmax, LDAM-DRW, CMO, Weight Balancing vs SYNAuG (CIFAR100-LT)", "mnist-lt", table2,
               tiny=TINY_LT),
    Experiment("table3a", "fairness: ERM vs SYNAuG", "ICML Table 3(a): accuracy, DP, EO, ED (UTKFace)", "mnist-fair",
               table3a, tiny=TINY_GROUPS, task="fairness"),
    Experiment("table3b", "fairness: SYNAuG with Group-DRO and RS", "ICML Table 3(b) (UTKFace)", "mnist-fair",
               table3b, tiny=TINY_GROUPS, task="fairness"),
    Experiment("table3c", "fairness: Mixup / CutMix after uniformization", "ICML Table 3(c) (UTKFace)", "mnist-fair",
               table3c, tiny=TINY_GROUPS, task="fairness"),
    Experiment("table3d", "fairness without the sensitive attribute", "ICML Table 3(d) (UTKFace)", "mnist-fair",
               table3d, tiny=TINY_GROUPS, task="fairness"),
    Experiment("table3b-lt", "long tail: SYNAuG with long-tail algorithms", "workshop paper's claim (SYNAuG as a "
               "preliminary step) tested like ICML Table 3(b), on the long tail", "mnist-lt", table3b_lt, tiny=TINY_LT),
    Experiment("table4", "robustness to spurious correlation", "ICML Table 4: BaseModel, SYNAuG, DFR, SYNAuG "
               "re-train / fine-tuning (Waterbirds)", "fashion-spurious", table4, tiny=TINY_GROUPS, task="spurious"),
    Experiment("table5", "additional data: synthetic vs other sources", "ICML Table 5 / workshop Table 1: Mixup, "
               "CutMix, image translation, class distribution fitting, web images vs SYNAuG (CIFAR100-LT)",
               "mnist-lt", table5, tiny=TINY_LT),
]:
    register_experiment(_e)
