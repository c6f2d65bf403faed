"""A paper claim as data, and its verdict from paired statistics over seeds, never from two means.

`Claim(text, better, worse, metrics)`: row `better` beats row `worse` on `metrics` (lower is better
where the metric says so, or with `lower`), on every metric (`mode="all"`) or at least one ("any");
`worse=None` means every other row of the table. Each (claim, metric, rival) is one test: the paired
difference over the seeds both rows ran, its mean, 95 % t-interval and two-sided p
(`scipy.stats.ttest_rel`). The p-values of an experiment's tests are corrected together by Holm's
method; a test is `consistent` when its corrected p < 0.05 and the difference has the claimed sign,
`contradicted` when significant the other way, else `inconclusive`. A claim is consistent when all
its tests are (mode all) or any is (mode any), contradicted when any (all) of them is contradicted,
inconclusive otherwise; `not runnable here` when a row did not run or a metric is undefined.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synaug.errors import ConfigError
from synaug.eval.specs import METRICS, metric

ALPHA = 0.05


@dataclass(frozen=True)
class Claim:
    text: str
    better: str
    worse: str | None
    metrics: tuple
    lower: bool = False     # lower is the claimed direction (for a metric where higher is better)
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

    def lower_is_claimed(self, key: str) -> bool:
        return (not metric(key).higher_is_better) != self.lower


@dataclass
class Test:
    """One paired comparison: `diff` = better - worse in the claimed direction (positive supports it)."""

    metric: str
    rival: str
    n: int
    diff: float | None = None
    ci95: list | None = None
    p: float | None = None
    p_holm: float | None = None
    verdict: str = "not runnable here"
    values: tuple = ()

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("metric", "rival", "n", "diff", "ci95", "p", "p_holm", "verdict")}


def paired_test(a: dict, b: dict, sign: float) -> tuple:
    """(n, mean difference, 95 % t-interval, two-sided p) of sign * (a - b) over the seeds both have."""
    from scipy import stats
    seeds = sorted(s for s in set(a) & set(b) if a[s] is not None and b[s] is not None)
    d = np.array([sign * (a[s] - b[s]) for s in seeds], float)
    if len(d) < 2:
        return len(d), (float(d.mean()) if len(d) else None), None, None
    if np.allclose(d, d[0]):  # no spread: the t statistic is undefined, so no test (inconclusive)
        return len(d), float(d[0]), None, None
    res = stats.ttest_rel(d, np.zeros_like(d))  # paired over seeds: the differences against zero
    ci = res.confidence_interval(0.95)
    return len(d), float(d.mean()), [float(ci.low), float(ci.high)], float(res.pvalue)


def tests_of(claim: Claim, per_seed: dict[str, dict[str, dict]]) -> list[Test]:
    """The claim's tests; `per_seed[row][metric]` = {seed: value}."""
    rivals = [claim.worse] if claim.worse else [r for r in per_seed if r != claim.better]
    out = []
    for key in claim.metrics:
        sign = -1.0 if claim.lower_is_claimed(key) else 1.0
        for rival in rivals:
            if claim.better not in per_seed or rival not in per_seed:
                out.append(Test(key, rival, 0))
                continue
            n, diff, ci, p = paired_test(per_seed[claim.better][key], per_seed[rival][key], sign)
            out.append(Test(key, rival, n, diff, ci, p))
    return out


def holm(tests: list[Test]) -> None:
    """Holm's step-down correction over every test with a p-value (in place)."""
    tested = sorted((t for t in tests if t.p is not None), key=lambda t: t.p)
    running = 0.0
    for i, t in enumerate(tested):
        running = max(running, min(1.0, (len(tested) - i) * t.p))
        t.p_holm = running
    for t in tests:
        if t.diff is None:
            t.verdict = "not runnable here"
        elif t.p_holm is None:
            t.verdict = "inconclusive"   # one seed: no spread to test against
        elif t.p_holm < ALPHA:
            t.verdict = "consistent" if t.diff > 0 else "contradicted"
        else:
            t.verdict = "inconclusive"


def verdict(claim: Claim, tests: list[Test]) -> str:
    verdicts = [t.verdict for t in tests]
    if not verdicts or "not runnable here" in verdicts:
        return "not runnable here"
    combine_ok, combine_bad = (all, any) if claim.mode == "all" else (any, all)
    if combine_ok(v == "consistent" for v in verdicts):
        return "consistent"
    if combine_bad(v == "contradicted" for v in verdicts):
        return "contradicted"
    return "inconclusive"


def evidence(claim: Claim, tests: list[Test], means: dict) -> str:
    parts = []
    for t in tests:
        if t.diff is None:
            parts.append(f"{t.metric}: {t.rival if t.rival not in means else claim.better} not run or undefined")
            continue
        m = metric(t.metric)
        ci = "" if t.ci95 is None else f", 95% CI [{m.fmt.format(t.ci95[0])}, {m.fmt.format(t.ci95[1])}]"
        p = "" if t.p is None else f", p = {t.p:.3g}, Holm p = {t.p_holm:.3g}"
        a, b = means.get(claim.better, {}).get(t.metric), means.get(t.rival, {}).get(t.metric)
        parts.append(f"{m.label}: {claim.better} {m.format(a)} vs {t.rival} {m.format(b)}, difference "
                     f"{'+' if t.diff >= 0 else ''}{m.fmt.format(t.diff)} in the claimed direction over "
                     f"{t.n} paired seed(s){ci}{p}")
    return "; ".join(parts) + (f" (rule: paired t-test over seeds, Holm-corrected across the experiment's claims, "
                               f"alpha {ALPHA}; {'every' if claim.mode == 'all' else 'at least one'} comparison must hold)")


def evaluate_claims(claims: list[Claim], tables: list, finding_type) -> list:
    """Findings for `claims` against the rows of `tables` (Table objects of Stats; a claim's rows are
    looked up in the first table that has its `better` row), Holm-corrected together."""
    def source(claim):
        return next((t for t in tables if claim.better in t.rows), tables[0])

    all_tests, per_claim = [], []
    for claim in claims:
        table = source(claim)
        per_seed = {r: {k: {s: v for s, v in zip(st.seeds, st.values)} for k, st in cells.items()
                        if hasattr(st, "seeds")} for r, cells in table.rows.items()}
        tests = tests_of(claim, per_seed)
        all_tests += tests
        per_claim.append((claim, tests, {r: {k: getattr(st, "mean", None) for k, st in cells.items()}
                                         for r, cells in table.rows.items()}))
    holm(all_tests)
    return [finding_type(claim.text, verdict(claim, tests), evidence(claim, tests, means),
                         {"tests": [t.to_dict() for t in tests]}) for claim, tests, means in per_claim]
