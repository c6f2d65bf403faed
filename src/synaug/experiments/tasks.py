"""The paper's three imbalance problems as tasks: which data and methods a demo runs by default
and which metrics its table shows. Everything else (plan, generate, train, evaluate) is shared."""

from __future__ import annotations

from dataclasses import dataclass

from synaug.registry import Registry


@dataclass(frozen=True)
class Task:
    name: str
    dataset: str
    methods: tuple
    keys: tuple          # metric keys of the table, in order
    labels: tuple        # column titles
    fmt: tuple           # number format per column
    explain: str         # HTML: what the table's numbers are


TASKS = Registry("task")
register_task = TASKS.add

register_task("longtail", Task(
        "longtail", "mnist-lt", ("ce", "ce-rs", "synaug"),
        ("accuracy", "many", "medium", "few", "balanced_accuracy", "gmean"),
        ("All", "Many", "Medium", "Few", "Balanced", "G-mean"), ("{:.2f}",) * 6,
        "<li><b>All</b>: accuracy over the whole balanced test set (%).</li>"
        "<li><b>Many / Medium / Few</b>: mean per-class test accuracy over classes with more than {many} / "
        "{few} to {many} / fewer than {few} real training images (LDAM-DRW convention).</li>"
        "<li><b>Balanced</b>: mean per-class recall; <b>G-mean</b>: geometric mean of per-class recalls "
        "(imbalanced-learn's geometric_mean_score).</li>"))
register_task("fairness", Task(
        "fairness", "mnist-fair", ("erm", "rs", "group-dro", "synaug", "synaug-classes"),
        ("accuracy", "dp", "eo", "ed", "worst_group"),
        ("Accuracy", "DP", "EO", "ED", "Worst cell"), ("{:.2f}", "{:.4f}", "{:.4f}", "{:.4f}", "{:.2f}"),
        "<li><b>Accuracy</b>: test accuracy (%) on a test set balanced over class x group cells.</li>"
        "<li><b>DP</b> (demographic parity difference) = max<sub>a</sub> P(h=1|a) - min<sub>a</sub> P(h=1|a); "
        "<b>EO</b> (equal opportunity) = the largest gap in true-positive rate between groups; "
        "<b>ED</b> (equalized odds) = max(TPR gap, FPR gap). Fractions, lower is fairer; equal to fairlearn's "
        "demographic_parity_difference, equal_opportunity_difference and equalized_odds_difference.</li>"
        "<li><b>Worst cell</b>: the lowest accuracy over class x group cells (%).</li>"))
register_task("spurious", Task(
        "spurious", "fashion-spurious",
        ("erm", "group-dro", "dfr", "uniformize-mixup", "synaug", "synaug-dfr", "synaug-ft-val"),
        ("worst_group", "mean_group", "mean_weighted", "accuracy"),
        ("Worst group", "Mean", "Mean (train-weighted)", "Accuracy"), ("{:.2f}",) * 4,
        "<li><b>Worst group</b>: the lowest test accuracy over the class x place groups (%).</li>"
        "<li><b>Mean</b>: unweighted mean of the group accuracies; <b>Mean (train-weighted)</b>: group "
        "accuracies weighted by the TRAINING group proportions, the 'mean accuracy' of Waterbirds papers "
        "(Sagawa et al., DFR).</li><li><b>Accuracy</b>: plain accuracy on the test set (50 % agreement).</li>"))


def task_for(name: str) -> Task:
    return TASKS[name]
