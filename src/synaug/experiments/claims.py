"""A paper claim as data, and its verdict from paired statistics over seeds, never from two means.

`Claim(text, better, worse, metrics)`: row `better` beats row `worse` on `metrics` (in each metric's
direction, or the opposite with `lower`), on every metric (`mode="all"`) or at least one ("any");
`worse=None` means every other row. Each (metric, rival) is one test on the seeds both rows ran:
- the paired difference over seeds (in the claimed direction: positive supports the claim), its 95 %
  t-interval and two-sided p (`scipy.stats.ttest_rel`); the p-values of all an experiment's tests are
  corrected together by Holm's step-down method;
- the 95 % test-sampling interval of the same mean difference, both rows scored on the same
  bootstrap-resampled test images (`synaug.eval.bootstrap.difference_interval`).
A test is `consistent` when its Holm p < 0.05, the difference is positive and the test-sampling
interval excludes zero; `contradicted` when the same holds with a negative difference; else
`inconclusive` (one seed always is: there is no spread to test against). A claim is consistent when
all its tests are (mode all) or any is (mode any), contradicted when any (all) of them is, else
inconclusive; `not runnable here` when a row did not run or a metric is undefined.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synaug.errors import ConfigError
from synaug.eval.bootstrap import N_RESAMPLES, difference_interval
from synaug.eval.specs import METRICS, metric

ALPHA = 0.05


@dataclass(frozen=True)
class Claim:
    text: str
    better: str
    worse: str | None
    metrics: tuple
    lower: bool = False     # the claimed direction is the opposite of the metrics' own
    mode: str = "all"

    def check(self, rows: list[str]) -> None:
        """Refuse, when the claim's experiment registers, a row or metric that does not exist."""
        for row in (self.better, self.worse):
            if row is not None and row not in rows:
                raise ConfigError(f"claim {self.text!r} names row {row!r}, which its table does not have "
                                  f"(rows: {rows})")
        unknown = [k for k in self.metrics if k not in METRICS]
        if unknown or self.mode not in ("all", "any") or not self.metrics:
            raise ConfigError(f"claim {self.text!r}: metrics {list(self.metrics)} (unknown: {unknown}), mode "
                              f"{self.mode!r}")

    def sign(self, key: str) -> float:
        """+1 when a higher value supports the claim, -1 when a lower one does."""
        return -1.0 if metric(key).higher_is_better == self.lower else 1.0


@dataclass
class Comparison:
    metric: str
    rival: str
    n: int = 0
    diff: float | None = None       # mean over paired seeds, in the claimed direction
    ci95: list | None = None        # t-interval over seeds
    p: float | None = None
    p_holm: float | None = None
    test_ci95: list | None = None   # test-sampling interval of the mean difference
    verdict: str = "not runnable here"

    def to_dict(self) -> dict:
        return dict(vars(self))


def paired_test(a: dict, b: dict, sign: float) -> tuple:
    """(seeds, mean difference, 95 % t-interval, two-sided p) of sign * (a - b) over the seeds both have
    a value for; no interval and p for one seed, or when every seed gives the same difference."""
    from scipy import stats
    seeds = sorted(s for s in set(a) & set(b) if a[s] is not None and b[s] is not None)
    d = np.array([sign * (a[s] - b[s]) for s in seeds], float)
    if len(d) < 2 or np.allclose(d, d[0]):
        return seeds, (float(d.mean()) if len(d) else None), None, None
    res = stats.ttest_rel(d, np.zeros_like(d))
    ci = res.confidence_interval(0.95)
    return seeds, float(d.mean()), [float(ci.low), float(ci.high)], float(res.pvalue)


def test_of(claim: Claim, key: str, rival: str, rows: dict, resamples: int = N_RESAMPLES) -> Comparison:
    """One (metric, rival) comparison from the rows' runs (`uncertainty.RowRuns`)."""
    if claim.better not in rows or rival not in rows:
        return Comparison(key, rival)
    a, b, sign = rows[claim.better], rows[rival], claim.sign(key)
    seeds, diff, ci, p = paired_test(a.values(key), b.values(key), sign)
    t = Comparison(key, rival, len(seeds), diff, ci, p)
    with_predictions = [s for s in seeds if "predictions" in a.metrics[s] and "predictions" in b.metrics[s]]
    if diff is not None and with_predictions and resamples:
        groups = [(sc, [(a.metrics[s]["predictions"], b.metrics[s]["predictions"]) for s in group])
                  for sc, group in a.groups(with_predictions)]
        t.test_ci95 = difference_interval(groups, key, sign, n_resamples=resamples)
    return t


def holm(tests: list[Comparison]) -> None:
    """Holm's step-down correction over every test with a p-value, and each test's verdict (in place)."""
    tested = sorted((t for t in tests if t.p is not None), key=lambda t: t.p)
    running = 0.0
    for i, t in enumerate(tested):
        running = max(running, min(1.0, (len(tested) - i) * t.p))
        t.p_holm = running
    for t in tests:
        t.verdict = test_verdict(t)


def test_verdict(t: Comparison) -> str:
    if t.diff is None:
        return "not runnable here"
    if t.p_holm is None or t.p_holm >= ALPHA:
        return "inconclusive"
    clear = t.test_ci95 is None or t.test_ci95[0] > 0 or t.test_ci95[1] < 0  # outside test-sampling error
    if not clear:
        return "inconclusive"
    return "consistent" if t.diff > 0 else "contradicted"


def verdict(claim: Claim, tests: list[Comparison]) -> str:
    verdicts = [t.verdict for t in tests]
    if not verdicts or "not runnable here" in verdicts:
        return "not runnable here"
    combine_ok, combine_bad = (all, any) if claim.mode == "all" else (any, all)
    if combine_ok(v == "consistent" for v in verdicts):
        return "consistent"
    if combine_bad(v == "contradicted" for v in verdicts):
        return "contradicted"
    return "inconclusive"


def describe(claim: Claim, t: Comparison, rows: dict) -> str:
    if t.diff is None:
        return f"{metric(t.metric).label}: {claim.better if claim.better not in rows else t.rival} not run or undefined"
    m = metric(t.metric)
    mean = lambda r: np.mean([v for v in rows[r].values(t.metric).values() if v is not None])  # noqa: E731
    ci = "" if t.ci95 is None else f", 95% CI [{m.fmt.format(t.ci95[0])}, {m.fmt.format(t.ci95[1])}]"
    p = "" if t.p is None else f", p = {t.p:.3g} (Holm {t.p_holm:.3g})"
    tci = "" if t.test_ci95 is None else (f", test-sampling 95% interval [{m.fmt.format(t.test_ci95[0])}, "
                                          f"{m.fmt.format(t.test_ci95[1])}]")
    return (f"{m.label}: {claim.better} {m.format(mean(claim.better))} vs {t.rival} {m.format(mean(t.rival))}; "
            f"difference {t.diff:+.4g} in the claimed direction over {t.n} paired seed(s){ci}{p}{tci}")


def evaluate_claims(claims: list[Claim], rows: dict, finding_type, resamples: int = N_RESAMPLES) -> list:
    """Findings for `claims` over `rows` ({label: RowRuns}), Holm-corrected together; `resamples`
    bootstrap resamples of the test images for each difference's test-sampling interval."""
    per_claim = []
    for claim in claims:
        rivals = [claim.worse] if claim.worse else [r for r in rows if r != claim.better]
        per_claim.append((claim, [test_of(claim, k, r, rows, resamples) for k in claim.metrics for r in rivals]))
    holm([t for _, tests in per_claim for t in tests])
    rule = (f"rule: paired t-test over seeds, Holm-corrected across the experiment's claims, alpha {ALPHA}, and the "
            "difference outside its test-sampling interval; ")
    return [finding_type(claim.text, verdict(claim, tests),
                         "; ".join(describe(claim, t, rows) for t in tests) + f" ({rule}"
                         + f"{'every' if claim.mode == 'all' else 'at least one'} comparison must hold)",
                         {"tests": [t.to_dict() for t in tests]})
            for claim, tests in per_claim]


class FindingSet:
    """The findings of an analysis (a figure's claims), decided like table claims: paired tests over
    seeds of per-seed values (Holm-corrected together), or a rule checked on every seed (consistent
    when it holds on every seed, contradicted when it fails on every seed, else inconclusive)."""

    def __init__(self):
        self.items: list[tuple] = []   # (text, kind, payload, evidence)

    def paired(self, text: str, a: dict, b: dict, evidence: str = "", margin: float = 0.0, label: str = "") -> None:
        """Claim: a exceeds b by more than `margin` (per-seed values {seed: value}); lower-is-better
        claims pass the values negated."""
        seeds, diff, ci, p = paired_test({s: None if v is None else v - margin for s, v in a.items()}, b, 1.0)
        self.items.append((text, "paired", Comparison(label or "value", "", len(seeds), diff, ci, p), evidence))

    def rule(self, text: str, holds: dict, evidence: str = "") -> None:
        """Claim decided seed by seed: `holds` = {seed: True/False/None (undecidable)}."""
        self.items.append((text, "rule", dict(holds), evidence))

    def findings(self, finding_type) -> list:
        holm([payload for _, kind, payload, _ in self.items if kind == "paired"])
        out = []
        for text, kind, payload, evidence in self.items:
            if kind == "paired":
                t = payload
                detail = ("" if t.diff is None else f"difference {t.diff:+.4g} over {t.n} seed(s)"
                          + ("" if t.ci95 is None else f", 95% CI [{t.ci95[0]:.4g}, {t.ci95[1]:.4g}]")
                          + ("" if t.p is None else f", p = {t.p:.3g} (Holm {t.p_holm:.3g})"))
                out.append(finding_type(text, t.verdict, "; ".join(x for x in (evidence, detail) if x)
                                        + " (rule: paired t-test over seeds, Holm-corrected, alpha 0.05)",
                                        {"tests": [t.to_dict()]}))
            else:
                decided = [v for v in payload.values() if v is not None]
                status = ("not runnable here" if not decided else "consistent" if all(decided) and len(decided) > 1
                          else "contradicted" if not any(decided) and len(decided) > 1 else "inconclusive")
                out.append(finding_type(text, status, f"{evidence} (rule checked on each seed: holds on "
                                        f"{sum(decided)} of {len(decided)}; consistent only if on every one of 2 or "
                                        "more seeds)", {"per_seed": {str(s): v for s, v in payload.items()}}))
        return out
