"""A paper claim as data, and its verdict from paired statistics over seeds, never from two means.

`Claim(text, better, worse, metrics, delta=..., reason=...)`: row `better` beats row `worse` on
`metrics` (in each metric's direction, or the opposite with `lower`), on every metric (`mode="all"`)
or at least one ("any"); `worse=None` means every other row (or the listed `rivals`). Every claim
states `delta`, its margin of practical equivalence in the metric's units, with the `reason` for it
(from the paper's own effect sizes), and its `family`: "paper" (a claim the paper makes) or
"exploratory" (synaug's own question).

Each (metric, rival) is one test on the seeds both rows ran: the paired difference over seeds (in the
claimed direction: positive supports the claim), its 95 % t-interval and two-sided p
(`scipy.stats.ttest_rel`), the paired TOST p that |difference| < delta (statsmodels `ttost_paired`),
and the difference detectable with 80 % power and the seeds that would detect delta
(`synaug.experiments.power`). A test that two claims of a family share (table2's SYNAuG vs CE on All,
in "beats CE on All" and "best All") is made once and counted once: in Holm it belongs to the first
claim, and the second claim's verdict reads its result.

Holm's step-down correction runs within a family, never across the two, over the family's
hypotheses: a mode-"all" claim is one intersection-union hypothesis (it passes when each test passes at
the claim's level; its p is the largest of its tests', no correction inside), a mode-"any" claim one
union (Bonferroni over its tests inside); each test's Holm p is its own p scaled by its claim's Holm
factor. A rule (`FindingSet.rule`) or a paired value is one hypothesis too. Verdicts, per test:
- `consistent` / `contradicted`: Holm p < 0.05 with a positive / negative difference (and, where the
  test split is held fixed across seeds, the test-sampling interval of the difference excludes zero;
  where each seed draws its own test split, the seeds already carry that noise and the interval is not
  used: the finding says which);
- `equivalent`: not that, and the TOST p, Holm-corrected over the family's tests, < 0.05;
- `underpowered`: neither (one seed always is); the finding gives the effect it could have detected
  and the seeds that would detect delta;
- `not runnable here`: a row did not run or a metric is undefined.
A claim combines its tests: mode all is consistent when every test is, contradicted when any is,
equivalent when any test is (it cannot then hold as stated), else underpowered; mode any is consistent
when any test is, underpowered while any test is, contradicted when any is, else equivalent.
`FindingSet` adds the analyses' claims: paired values over seeds decided the same way, and rules
checked seed by seed, judged by a sign test over at least 5 seeds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from synaug.errors import ConfigError
from synaug.eval.bootstrap import N_RESAMPLES, difference_interval
from synaug.eval.specs import METRICS, metric
from synaug.experiments.power import detectable, seeds_needed, sign_test_p, sign_test_seeds, tost_p

ALPHA = 0.05
FAMILIES = ("paper", "exploratory")
VERDICTS = ("consistent", "contradicted", "equivalent", "underpowered", "not runnable here")
MIN_RULE_SEEDS = 5   # a shape claim needs this many decided seeds before a sign test can clear alpha


@dataclass(frozen=True)
class Claim:
    text: str
    better: str
    worse: str | None
    metrics: tuple
    lower: bool = False     # the claimed direction is the opposite of the metrics' own
    mode: str = "all"
    delta: float = 0.0      # margin of practical equivalence, in the metrics' units
    reason: str = ""        # why that margin (the paper's own effect sizes)
    family: str = "paper"   # "paper": the paper claims it; "exploratory": synaug's own question
    rivals: tuple = ()      # with worse=None: only these rows (default: every other row)

    def check(self, rows: list[str]) -> None:
        """Refuse, when the claim's experiment registers, a row or metric that does not exist, or a
        claim without its margin, reason or family."""
        for row in (self.better, self.worse, *self.rivals):
            if row is not None and row not in rows:
                raise ConfigError(f"claim {self.text!r} names row {row!r}, which its table does not have "
                                  f"(rows: {rows})")
        unknown = [k for k in self.metrics if k not in METRICS]
        if unknown or self.mode not in ("all", "any") or not self.metrics:
            raise ConfigError(f"claim {self.text!r}: metrics {list(self.metrics)} (unknown: {unknown}), mode "
                              f"{self.mode!r}")
        if not self.delta > 0 or not self.reason or self.family not in FAMILIES:
            raise ConfigError(f"claim {self.text!r}: needs a margin delta > 0 with its reason and a family in "
                              f"{FAMILIES} (got delta {self.delta!r}, reason {self.reason!r}, family {self.family!r})")

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
    family: str = "paper"
    delta: float | None = None
    delta_reason: str = ""
    tost_p: float | None = None
    tost_p_holm: float | None = None
    std: float | None = None        # sample std of the paired differences
    level: float | None = None      # the strictest level this test faced: alpha / (family size x tests in an any-claim)
    detectable: float | None = None  # difference detectable with 80 % power at `level` over n seeds
    seeds_needed: int | None = None  # seeds that would detect delta at `level` (None: more than 10)
    test_split: str = ""            # "fixed" (one test set for every seed) or "per seed"
    sign_test: bool = False         # every seed gave the same non-zero difference: p from the exact sign test

    def to_dict(self) -> dict:
        return dict(vars(self))


def paired_test(a: dict, b: dict, sign: float) -> tuple:
    """(seeds, mean difference, 95 % t-interval, two-sided p) of sign * (a - b) over the seeds both have
    a value for; no interval and p for one seed, or when every seed gives the same difference."""
    seeds = sorted(s for s in set(a) & set(b) if a[s] is not None and b[s] is not None)
    d = np.array([sign * (a[s] - b[s]) for s in seeds], float)
    if len(d) < 2 or np.allclose(d, d[0]):
        return seeds, (float(d.mean()) if len(d) else None), None, None
    res = stats.ttest_rel(d, np.zeros_like(d))
    ci = res.confidence_interval(0.95)
    return seeds, float(d.mean()), [float(ci.low), float(ci.high)], float(res.pvalue)


def compare(a: dict, b: dict, sign: float, key: str, rival: str, delta: float, reason: str,
            family: str) -> tuple[Comparison, list]:
    """The paired test, TOST and spread of sign * (a - b) ({seed: value} each); returns it with its seeds."""
    seeds, diff, ci, p = paired_test(a, b, sign)
    t = Comparison(key, rival, len(seeds), diff, ci, p, family=family, delta=delta, delta_reason=reason)
    if len(seeds) >= 2:
        x, y = (np.array([sign * v[s] for s in seeds], float) for v in (a, b))
        t.std = float(np.std(x - y, ddof=1))
        t.tost_p = tost_p(x, y, delta)
        if p is None and diff:  # no spread: the t-test is undefined, the signs are not (n of n one way)
            t.sign_test, t.p = True, sign_test_p(len(seeds), len(seeds), alternative="two-sided")
    return t, seeds


def test_of(claim: Claim, key: str, rival: str, rows: dict, resamples: int = N_RESAMPLES) -> Comparison:
    """One (metric, rival) comparison from the rows' runs (`uncertainty.RowRuns`)."""
    if claim.better not in rows or rival not in rows:
        return Comparison(key, rival, family=claim.family, delta=claim.delta, delta_reason=claim.reason)
    a, b = rows[claim.better], rows[rival]
    t, seeds = compare(a.values(key), b.values(key), claim.sign(key), key, rival, claim.delta, claim.reason,
                       claim.family)
    with_predictions = [s for s in seeds if "predictions" in a.metrics[s] and "predictions" in b.metrics[s]]
    if not seeds:
        return t
    fixed = len(a.groups(seeds)) == 1 and len(b.groups(seeds)) == 1 and \
        a.groups(seeds)[0][0] is b.groups(seeds)[0][0]
    t.test_split = "fixed" if fixed else "per seed"
    if fixed and t.diff is not None and with_predictions == seeds and resamples:
        groups = [(sc, [(a.metrics[s]["predictions"], b.metrics[s]["predictions"]) for s in group])
                  for sc, group in a.groups(seeds)]
        t.test_ci95 = difference_interval(groups, key, claim.sign(key), n_resamples=resamples)
    return t


def holm_adjust(ps: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the given order."""
    order = np.argsort(ps, kind="stable")
    out, running = [0.0] * len(ps), 0.0
    for i, j in enumerate(order):
        running = max(running, min(1.0, (len(ps) - i) * ps[j]))
        out[j] = running
    return out


@dataclass
class Hypothesis:
    """One member of a family's Holm correction: a claim's own tests (those it does not share with an
    earlier claim), combined as an intersection ("all") or a union ("any")."""
    tests: list
    mode: str = "all"
    p: float | None = field(default=None, init=False)

    def combined_p(self) -> float | None:
        ps = [t.p for t in self.tests if t.p is not None]
        if not ps or (self.mode == "all" and len(ps) < len(self.tests)):
            return None
        return max(ps) if self.mode == "all" else min(1.0, len(self.tests) * min(ps))


def correct_family(hypotheses: list[Hypothesis]) -> None:
    """Holm over the family's hypotheses (each claim once, each test once), then every test's verdict,
    its equivalence test (Holm over the family's TOST p-values) and its power (in place)."""
    for h in hypotheses:
        h.p = h.combined_p()
    tested = [h for h in hypotheses if h.p is not None]
    adjusted = dict(zip(map(id, tested), holm_adjust([h.p for h in tested])))
    for h in hypotheses:
        inner = 1 if h.mode == "all" else len(h.tests)
        for t in h.tests:
            if t.p is not None and id(h) in adjusted:  # at its claim's Holm step (the largest p: the claim's)
                factor = adjusted[id(h)] / h.p if h.p > 0 else 1.0
                t.p_holm = min(1.0, t.p * inner * factor)
            t.level = ALPHA / (max(1, len(tested)) * inner)
    tests = [t for h in hypotheses for t in h.tests]
    with_tost = [t for t in tests if t.tost_p is not None]
    for t, q in zip(with_tost, holm_adjust([t.tost_p for t in with_tost])):
        t.tost_p_holm = q
    for t in tests:
        if t.sign_test:  # a t-test's power is undefined without spread: the seeds the sign test needs
            t.detectable, t.seeds_needed = None, sign_test_seeds(t.level / 2)
        else:
            t.detectable = detectable(t.std, t.n, t.level)
            t.seeds_needed = seeds_needed(t.std, t.delta, t.level) if t.delta else None
        t.verdict = test_verdict(t)


def test_verdict(t: Comparison) -> str:
    if t.diff is None:
        return "not runnable here"
    clear = t.test_ci95 is None or t.test_ci95[0] > 0 or t.test_ci95[1] < 0  # outside test-sampling error
    if t.p_holm is not None and t.p_holm < ALPHA and clear:
        return "consistent" if t.diff > 0 else "contradicted"
    if t.tost_p_holm is not None and t.tost_p_holm < ALPHA:
        return "equivalent"
    return "underpowered"


def verdict(mode: str, verdicts: list[str]) -> str:
    """A claim's verdict from its tests' (module docstring)."""
    if not verdicts or "not runnable here" in verdicts:
        return "not runnable here"
    if mode == "all":
        return ("contradicted" if "contradicted" in verdicts else "consistent" if set(verdicts) == {"consistent"}
                else "equivalent" if "equivalent" in verdicts else "underpowered")
    return ("consistent" if "consistent" in verdicts else "underpowered" if "underpowered" in verdicts
            else "contradicted" if "contradicted" in verdicts else "equivalent")


def p_text(t: Comparison) -> str:
    if t.p is None:
        return ""
    holm = "not corrected: another test of its claim has no p" if t.p_holm is None else f"Holm {t.p_holm:.3g}"
    return f", p = {t.p:.3g} ({holm})"


def power_text(t: Comparison, fmt: str = "{:.4g}") -> str:
    """What a test could decide: its TOST p against delta, the detectable effect and the seeds for delta."""
    parts = [f"delta {fmt.format(t.delta)}" if t.delta else ""]
    if t.tost_p is not None:
        parts.append(f"TOST p = {t.tost_p:.3g} (Holm {t.tost_p_holm:.3g}, statsmodels ttost_paired)")
    if t.detectable is not None:
        needed = f"{t.seeds_needed} seeds" if t.seeds_needed else "more than 10 seeds"
        parts.append(f"detectable at 80 % power {fmt.format(t.detectable)} (level {t.level:.3g}); "
                     f"{needed} would detect delta")
    elif t.sign_test:
        parts.append(f"no spread: every one of the {t.n} seeds gave the same difference, so the t-test and its power "
                     f"are undefined and p is the exact two-sided sign test's (scipy binomtest); {t.seeds_needed} seeds "
                     f"all one way would clear level {t.level:.3g}")
    elif t.diff is not None and t.n < 2:
        parts.append("one seed: no spread to test against")
    return ", ".join(p for p in parts if p)


def missing_text(claim: Claim, t: Comparison, rows: dict) -> str:
    """Why a test has no difference: a row that did not run, or a metric with no value on any paired seed."""
    label = metric(t.metric).label
    absent = [r for r in (claim.better, t.rival) if r not in rows or not rows[r].seeds]
    if absent:
        return f"{label}: {absent[0]} not run"
    # both rows ran: the metric is undefined for them (at IF 10 no class has fewer than 10 images: Few is empty)
    return (f"{label}: no seed where both {claim.better} and {t.rival} have a value (for Many / Medium / Few: no "
            "class falls in that group at this imbalance factor and these thresholds)")


def describe(claim: Claim, t: Comparison, rows: dict, shared: bool = False) -> str:
    if t.diff is None:
        return missing_text(claim, t, rows)
    m = metric(t.metric)
    mean = lambda r: np.mean([v for v in rows[r].values(t.metric).values() if v is not None])  # noqa: E731
    ci = "" if t.ci95 is None else f", 95% CI [{m.fmt.format(t.ci95[0])}, {m.fmt.format(t.ci95[1])}]"
    p = p_text(t)
    tci = "" if t.test_ci95 is None else (f", test-sampling 95% interval [{m.fmt.format(t.test_ci95[0])}, "
                                          f"{m.fmt.format(t.test_ci95[1])}]")
    split = {"fixed": "; test split fixed across seeds: " + ("the test-sampling interval decides too" if t.test_ci95
                                                             else "no predictions to resample"),
             "per seed": "; each seed its own test split (the seeds carry that noise)"}.get(t.test_split, "")
    return (f"{m.label}: {claim.better} {m.format(mean(claim.better))} vs {t.rival} {m.format(mean(t.rival))}; "
            f"difference {t.diff:+.4g} in the claimed direction over {t.n} paired seed(s){ci}{p}{tci}; "
            f"{power_text(t, m.fmt)}{split}" + (" (the same test as an earlier claim's, counted once)" if shared else ""))


RULE_TEXT = (f"rule: paired t-test over seeds, Holm-corrected within its family (each claim one hypothesis), "
             f"alpha {ALPHA}; equivalent when a paired TOST (Holm within the family) shows |difference| < delta; "
             "underpowered otherwise")


class FindingSet:
    """An experiment's findings, decided together: table claims over rows' runs (`claims`), paired
    per-seed values (`paired`), and rules checked on each seed (`rule`, judged by a sign test). Each
    family is one Holm correction; paper and exploratory claims are never mixed."""

    def __init__(self):
        self.items: list[dict] = []

    def claims(self, claims: list[Claim], rows: dict, resamples: int = N_RESAMPLES) -> None:
        """Table claims over `rows` ({label: RowRuns}); a test an earlier claim of the same family
        already made (same rows, metric and direction) is shared, not repeated."""
        for claim in claims:
            rivals = [claim.worse] if claim.worse else list(claim.rivals) or [r for r in rows if r != claim.better]
            tests, owned = [], []
            for k in claim.metrics:
                for r in rivals:
                    earlier = self.shared_test(claim, k, r)
                    tests.append(earlier or test_of(claim, k, r, rows, resamples))
                    owned.append(earlier is None)
            self.items.append({"kind": "claim", "claim": claim, "tests": tests, "owned": owned, "rows": rows})

    def shared_test(self, claim: Claim, key: str, rival: str) -> Comparison | None:
        for item in self.items:
            c = item.get("claim")
            if item["kind"] == "claim" and c.family == claim.family and c.better == claim.better \
                    and c.lower == claim.lower:
                for t, own in zip(item["tests"], item["owned"]):
                    if own and t.metric == key and t.rival == rival:
                        return t
        return None

    def paired(self, text: str, a: dict, b: dict, evidence: str = "", margin: float = 0.0, label: str = "",
               delta: float = 0.0, reason: str = "", family: str = "paper") -> None:
        """Claim: a exceeds b by more than `margin` (per-seed values {seed: value}); lower-is-better
        claims pass the values negated; `delta` the margin of equivalence, with its `reason`."""
        check_margin(text, delta, reason, family)
        shifted = {s: None if v is None else v - margin for s, v in a.items()}
        t, _ = compare(shifted, b, 1.0, label or "value", "", delta, reason, family)
        self.items.append({"kind": "paired", "text": text, "test": t, "evidence": evidence, "family": family})

    def rule(self, text: str, holds: dict, evidence: str = "", family: str = "paper") -> None:
        """Claim decided seed by seed: `holds` = {seed: True/False/None (undecidable)}."""
        self.items.append({"kind": "rule", "text": text, "holds": dict(holds), "evidence": evidence,
                           "family": family})

    def findings(self, finding_type) -> list:
        for family in FAMILIES:
            self.correct(family)
        return [self.finding(item, finding_type) for item in self.items]

    def correct(self, family: str) -> None:
        """Holm within `family`: a claim, a paired value and a rule are one hypothesis each."""
        hyps, rules = [], []
        for item in (i for i in self.items if family_of(i) == family):
            if item["kind"] == "claim":
                item["hypothesis"] = Hypothesis([t for t, own in zip(item["tests"], item["owned"]) if own],
                                                item["claim"].mode)
                hyps.append(item["hypothesis"])
            elif item["kind"] == "paired":
                hyps.append(Hypothesis([item["test"]]))
            else:
                rules.append(item)
        rule_hyps = [Hypothesis([rule_comparison(r)]) for r in rules]
        correct_family(hyps + rule_hyps)
        for r, h in zip(rules, rule_hyps):
            r["test"] = h.tests[0]
            r["test"].verdict = rule_verdict(r["test"], len(hyps) + len(rule_hyps))

    def finding(self, item: dict, finding_type):
        if item["kind"] == "claim":
            claim, rows = item["claim"], item["rows"]
            text = "; ".join(describe(claim, t, rows, not own) for t, own in zip(item["tests"], item["owned"]))
            combine = "every" if claim.mode == "all" else "at least one"
            return finding_type(claim.text, verdict(claim.mode, [t.verdict for t in item["tests"]]),
                                f"{family_label(claim.family)}{text} ({RULE_TEXT}; {combine} comparison must "
                                f"hold; delta {claim.delta:g}: {claim.reason})",
                                {"family": claim.family, "tests": [t.to_dict() for t in item["tests"]]})
        t = item["test"]
        if item["kind"] == "paired":
            detail = ("" if t.diff is None else f"difference {t.diff:+.4g} over {t.n} seed(s)"
                      + ("" if t.ci95 is None else f", 95% CI [{t.ci95[0]:.4g}, {t.ci95[1]:.4g}]")
                      + p_text(t) + f"; {power_text(t)}")
            return finding_type(item["text"], t.verdict, family_label(item["family"])
                                + "; ".join(x for x in (item["evidence"], detail) if x)
                                + f" ({RULE_TEXT}; delta {t.delta:g}: {t.delta_reason})",
                                {"family": item["family"], "tests": [t.to_dict()]})
        decided = [v for v in item["holds"].values() if v is not None]
        return finding_type(item["text"], t.verdict, f"{family_label(item['family'])}{item['evidence']} (rule "
                            f"checked on each seed: holds on {sum(decided)} of {len(decided)}; {rule_text(t)})",
                            {"family": item["family"], "per_seed": {str(s): v for s, v in item["holds"].items()},
                             "tests": [t.to_dict()]})


def family_of(item: dict) -> str:
    return item["claim"].family if item["kind"] == "claim" else item["family"]


def family_label(family: str) -> str:
    return "" if family == "paper" else "[exploratory: synaug's own question, its own Holm family] "


def check_margin(text: str, delta: float, reason: str, family: str) -> None:
    if not delta > 0 or not reason or family not in FAMILIES:
        raise ConfigError(f"finding {text!r}: needs a margin delta > 0 with its reason and a family in {FAMILIES}")


def rule_comparison(item: dict) -> Comparison:
    """A rule as a test: n decided seeds, diff = the share that hold, p = the one-sided sign-test p."""
    decided = [v for v in item["holds"].values() if v is not None]
    t = Comparison("rule", "", len(decided), family=item["family"], test_split="per seed")
    if decided:
        t.diff = sum(decided) / len(decided)
        t.p = sign_test_p(sum(decided), len(decided))
    return t


def rule_verdict(t: Comparison, family_size: int) -> str:
    """Consistent when the sign-test p (Holm within the family) clears alpha on at least 5 seeds;
    contradicted when the rule fails often enough that the opposite sign test clears alpha / family
    size (Bonferroni: conservative); else underpowered. The seeds a rule holding on every seed needs
    are recorded (`seeds_needed`)."""
    t.detectable = None
    t.level = ALPHA / max(1, family_size)
    t.seeds_needed = sign_test_seeds(t.level, cap=None)
    if t.diff is None:
        return "not runnable here"
    fails = round(t.n * (1 - t.diff))
    if t.n >= MIN_RULE_SEEDS and t.p_holm is not None and t.p_holm < ALPHA:
        return "consistent"
    if t.n >= MIN_RULE_SEEDS and sign_test_p(fails, t.n) < t.level:
        return "contradicted"
    return "underpowered"


def rule_text(t: Comparison) -> str:
    if t.p is None:
        return "no seed could decide it"
    return (f"one-sided sign-test p = {t.p:.3g} (Holm {t.p_holm:.3g}, scipy binomtest); consistent only on at "
            f"least {MIN_RULE_SEEDS} seeds with Holm p < {ALPHA}; {t.seeds_needed} seeds all holding would clear "
            f"level {t.level:.3g}")


def evaluate_claims(claims: list[Claim], rows: dict, finding_type, resamples: int = N_RESAMPLES) -> list:
    """Findings for `claims` over `rows` ({label: RowRuns}), Holm-corrected within each family;
    `resamples` bootstrap resamples of the test images where the test split is fixed across seeds."""
    f = FindingSet()
    f.claims(claims, rows, resamples)
    return f.findings(finding_type)
