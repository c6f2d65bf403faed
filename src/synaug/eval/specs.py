"""One specification per metric: its key in metrics.json, its label, number format, direction and
definition. Evaluation writes the keys; the CLI, reports, tables and claims read everything else
from here, so a metric is described once (docs/definitions.md gives the sources)."""

from __future__ import annotations

from dataclasses import dataclass

from synaug.constraints import FEW, MANY
from synaug.eval.chance import chance_note
from synaug.registry import Registry


@dataclass(frozen=True)
class MetricSpec:
    key: str
    label: str
    fmt: str                   # how a value prints
    higher_is_better: bool
    percent: bool              # a percentage (0-100) rather than a fraction
    definition: str            # one sentence, for reports and --help

    def format(self, value) -> str:
        return "-" if value is None else self.fmt.format(value)


METRICS = Registry("metric")


def register_metric(spec: MetricSpec) -> MetricSpec:
    return METRICS.add(spec.key, spec)


def metric(key: str) -> MetricSpec:
    """The spec of `key`; an unregistered key (a table's own column) gets a plain two-decimal spec."""
    return METRICS[key] if key in METRICS else MetricSpec(key, key, "{:.2f}", True, True, "")


for _spec in [
    MetricSpec("accuracy", "All", "{:.2f}", True, True, "top-1 accuracy over the whole test set (%)"),
    MetricSpec("many", "Many", "{:.2f}", True, True,
               "mean per-class test accuracy of the classes with more than {many} training images (%)"),
    MetricSpec("medium", "Medium", "{:.2f}", True, True,
               "mean per-class test accuracy of the classes with {few} to {many} training images (%)"),
    MetricSpec("few", "Few", "{:.2f}", True, True,
               "mean per-class test accuracy of the classes with fewer than {few} training images (%)"),
    MetricSpec("balanced_accuracy", "Balanced", "{:.2f}", True, True, "mean per-class recall (%)"),
    MetricSpec("gmean", "G-mean", "{:.2f}", True, True,
               "geometric mean of per-class recalls (imbalanced-learn's geometric_mean_score, %)"),
    MetricSpec("worst_group", "Worst group", "{:.2f}", True, True,
               "the lowest test accuracy over class x group cells (%)"),
    MetricSpec("mean_group", "Mean (unweighted)", "{:.2f}", True, True,
               "unweighted mean of the class x group cell accuracies (%)"),
    MetricSpec("mean_weighted", "Mean (train-weighted)", "{:.2f}", True, True,
               "cell accuracies weighted by the TRAINING cell proportions (%)"),
    MetricSpec("dp", "DP", "{:.4f}", False, False,
               "demographic parity difference: max_a P(h=1|a) - min_a P(h=1|a) (fairlearn's)"),
    MetricSpec("eo", "EO", "{:.4f}", False, False,
               "equal opportunity difference: the largest gap in true-positive rate between groups"),
    MetricSpec("ed", "ED (worst case)", "{:.4f}", False, False,
               "equalized odds difference, max(TPR gap, FPR gap) (fairlearn's agg='worst_case')"),
    MetricSpec("ed_mean", "ED (mean)", "{:.4f}", False, False,
               "equalized odds difference, mean of the TPR and FPR gaps (fairlearn's agg='mean')"),
]:
    register_metric(_spec)


def definitions_html(keys, many: int = MANY, few: int = FEW) -> str:
    """An HTML list defining each metric of `keys` (thresholds filled in)."""
    import html
    return "".join(f"<li><b>{html.escape(metric(k).label)}</b>: "
                   f"{html.escape(metric(k).definition.format(many=many, few=few))}</li>" for k in keys)


def format_metrics(m: dict, name: str = "this run") -> list[str]:
    """The metrics of one run as text lines, grouped as the CLI prints them (only those present), and
    the chance level, with a warning when the run is at or near it (`synaug.eval.chance`)."""
    groups = (("accuracy", "many", "medium", "few", "balanced_accuracy", "gmean"),
              ("worst_group", "mean_group", "mean_weighted"), ("dp", "eo", "ed", "ed_mean"))
    lines = []
    for keys in groups:
        shown = [f"{metric(k).label} {metric(k).format(m[k])}" for k in keys if k in m]
        if shown:
            lines.append("  ".join(shown))
    level = m.get("chance")
    if level:
        lines.append(chance_note(name, m["accuracy"], level) if m.get("at_chance") else
                     f"(chance: {level['chance']:.2f} % for {level['classes']} classes; near chance below "
                     f"{level['near']:.2f} %)")
    return lines
