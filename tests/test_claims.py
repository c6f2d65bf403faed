"""Verdicts a reviewer can trust (issues 18, 29): the statistics against scipy and statsmodels on fixed
inputs (t-test, Holm, TOST, power, the sign test), the five verdicts on data with a known large effect
(consistent), a known zero effect (equivalent) and a noisy one (underpowered), Holm within one family
only, intersection-union claims and shared tests counted once, and the test-image bootstrap against
the binomial standard error (used in a verdict only where the test split is fixed)."""

import numpy as np
import pytest
from scipy import stats

from synaug.eval.bootstrap import difference_interval, resampled_interval
from synaug.eval.scoring import Scoring
from synaug.experiments.catalog import Finding
from synaug.errors import ConfigError
from synaug.experiments.claims import ALPHA, Claim, FindingSet, evaluate_claims, holm_adjust, paired_test
from synaug.experiments.power import detectable, seeds_needed, sign_test_p, tost_p
from synaug.experiments.stats import Stat
from synaug.experiments.uncertainty import RowRuns


def row(values: dict, key="accuracy", predictions=None, scoring=None) -> RowRuns:
    r = RowRuns()
    for s, v in values.items():
        r.metrics[s] = {key: v, **({"predictions": predictions[s]} if predictions else {})}
        r.scoring[s] = scoring
    return r


def test_stat_matches_numpy_and_scipys_t_interval():
    values = [71.2, 74.8, 73.1, 70.5, 75.0]
    st = Stat.of(values, [0, 1, 2, 3, 4])
    assert st.mean == pytest.approx(np.mean(values)) and st.std == pytest.approx(np.std(values, ddof=1))
    low, high = stats.t.interval(0.95, 4, loc=np.mean(values), scale=stats.sem(values))
    assert st.ci95 == pytest.approx([low, high])
    one = Stat.of([70.0], [3])
    assert one.std == 0.0 and one.ci95 is None and one.n == 1
    assert Stat.of([None, 3.0], [0, 1]).n == 1


def test_paired_test_is_scipys_ttest_rel_over_the_seeds_both_rows_have():
    a = {0: 80.0, 1: 82.5, 2: 79.0, 3: 84.0, 4: None}
    b = {0: 78.5, 1: 80.0, 2: 79.5, 3: 81.0, 5: 70.0}
    seeds, diff, ci, p = paired_test(a, b, 1.0)
    ref = stats.ttest_rel([80.0, 82.5, 79.0, 84.0], [78.5, 80.0, 79.5, 81.0])
    assert seeds == [0, 1, 2, 3] and diff == pytest.approx(1.625) and p == pytest.approx(ref.pvalue)
    assert ci == pytest.approx(list(ref.confidence_interval(0.95)))
    lower = paired_test(a, b, -1.0)  # a lower-is-better claim flips the sign, not the p
    assert lower[1] == pytest.approx(-1.625) and lower[3] == pytest.approx(p)


DELTA = {"delta": 1.0, "reason": "test margin"}


def claim(text, better, worse, metrics=("accuracy",), **kw):
    return Claim(text, better, worse, metrics, **{**DELTA, **kw})


def test_holm_matches_its_definition():
    ps = [0.01, 0.04, 0.03, 0.2, 0.005]
    order = np.argsort(ps)
    expected = np.maximum.accumulate([min(1.0, (len(ps) - i) * ps[j]) for i, j in enumerate(order)])
    assert [holm_adjust(ps)[j] for j in order] == pytest.approx(expected)
    from statsmodels.stats.multitest import multipletests
    assert holm_adjust(ps) == pytest.approx(multipletests(ps, method="holm")[1])


def test_a_known_effect_is_consistent_and_its_opposite_contradicted():
    rng = np.random.default_rng(0)
    base = rng.normal(70, 2, 5)
    better = base + 4 + rng.normal(0, 0.5, 5)
    rows = {"a": row(dict(enumerate(better))), "b": row(dict(enumerate(base)))}
    (f, g) = evaluate_claims([claim("a beats b", "a", "b"), claim("b beats a", "b", "a")], rows, Finding)
    assert f.status == "consistent" and g.status == "contradicted"
    assert "p = " in f.evidence and f.test["tests"][0]["diff"] == pytest.approx(np.mean(better - base))
    # lower-is-better metrics claim the other direction: DP of a lower than b's
    dp = {"a": row(dict(enumerate(base / 1000)), "dp"), "b": row(dict(enumerate(better / 1000)), "dp")}
    (h,) = evaluate_claims([claim("a is fairer", "a", "b", ("dp",), delta=0.001)], dp, Finding)
    assert h.status == "consistent"


def test_a_known_zero_effect_is_equivalent_and_a_noisy_one_underpowered():
    rng = np.random.default_rng(5)
    base = rng.normal(70, 3, 8)
    same = base + rng.normal(0, 0.2, 8)          # a difference of about 0 with a small spread: inside +-1
    noisy = base + 0.5 + rng.normal(0, 4, 8)     # a spread far too wide to decide anything at 8 seeds
    rows = {"a": row(dict(enumerate(same))), "b": row(dict(enumerate(base))), "c": row(dict(enumerate(noisy)))}
    (eq,) = evaluate_claims([claim("a beats b", "a", "b")], rows, Finding)
    (under,) = evaluate_claims([claim("c beats b", "c", "b")], rows, Finding)
    assert eq.status == "equivalent" and under.status == "underpowered"
    t = under.test["tests"][0]
    d = noisy - base
    from statsmodels.stats.power import TTestPower
    effect = TTestPower().solve_power(nobs=8, alpha=ALPHA, power=0.8, alternative="two-sided")
    assert t["detectable"] == pytest.approx(effect * np.std(d, ddof=1))
    assert t["seeds_needed"] is None  # delta 1 against a spread of about 4: more than 10 seeds
    assert set(t) >= {"family", "delta", "delta_reason", "n", "diff", "ci95", "p", "p_holm", "tost_p", "detectable",
                      "seeds_needed", "verdict"}
    assert "detectable at 80 % power" in under.evidence and "more than 10 seeds" in under.evidence


def test_tost_p_is_statsmodels_ttost_paired():
    from statsmodels.stats.weightstats import ttost_paired
    a, b = np.array([70.1, 71.5, 69.8, 70.9]), np.array([70.0, 71.0, 70.2, 70.4])
    rows = {"a": row(dict(enumerate(a))), "b": row(dict(enumerate(b)))}
    (f,) = evaluate_claims([claim("a beats b", "a", "b")], rows, Finding)
    assert f.test["tests"][0]["tost_p"] == pytest.approx(ttost_paired(a, b, -1.0, 1.0)[0])
    assert tost_p(a, b, 1.0) == pytest.approx(ttost_paired(a, b, -1.0, 1.0)[0])


def test_seeds_needed_is_the_smallest_n_statsmodels_gives_80_percent_power():
    from statsmodels.stats.power import TTestPower
    power = TTestPower()
    for std, delta, alpha in ((1.0, 1.0, 0.05), (2.0, 1.5, 0.01), (0.5, 1.0, 0.05 / 7), (1.0, 0.3, 0.05)):
        n = seeds_needed(std, delta, alpha, cap=None)
        assert power.power(delta / std, n, alpha) >= 0.8 and (n == 2 or power.power(delta / std, n - 1, alpha) < 0.8)
    # where scipy's noncentral t gives NaN (effect 3.3 at 5 seeds, alpha 0.05 / 7), the one-sided power at
    # alpha / 2 stands in: 5 seeds give 0.905, so 5, not the 6 a NaN would push it to
    assert np.isnan(power.power(1 / 0.3, 5, 0.05 / 7)) or power.power(1 / 0.3, 5, 0.05 / 7) > 0.8
    assert seeds_needed(0.3, 1.0, 0.05 / 7) == 5
    assert seeds_needed(1.0, 0.3, 0.05) is None and seeds_needed(1.0, 0.3, 0.05, cap=None) > 10  # beyond the cap
    assert seeds_needed(0.0, 1.0, 0.05) == 2
    # the numbers: 3.3 standard deviations at 3 seeds alone, 8.6 at Holm's first step of 7
    assert detectable(1.0, 3, 0.05) == pytest.approx(3.26, abs=0.01)
    assert detectable(1.0, 3, 0.05 / 7) == pytest.approx(8.66, abs=0.01)
    assert detectable(1.0, 3, 0.05 / 15) == pytest.approx(12.7, abs=0.05)  # where statsmodels' solve_power fails
    assert power.power(detectable(2.0, 6, 0.01) / 2.0, 6, 0.01) == pytest.approx(0.8)


def test_power_is_finite_and_rises_where_statsmodels_returns_nan():
    """statsmodels' power is NaN for some large effects (26.3 at 5 seeds, alpha 0.05): fig5 at 10 seeds
    crashed root-finding through one. The power then comes from scipy's noncentral t and stays monotone."""
    from scipy import stats
    from statsmodels.stats.power import TTestPower
    from synaug.experiments.power import power_of
    assert np.isnan(TTestPower().power(26.3, 5, 0.05)) or TTestPower().power(26.3, 5, 0.05) > 0.999
    assert power_of(26.3, 5, 0.05) == pytest.approx(stats.nct.sf(stats.t.isf(0.025, 4), 4, 26.3 * np.sqrt(5)))
    for n, alpha in ((5, 0.05), (6, 0.025), (10, 0.05 / 3)):
        powers = [power_of(e, n, alpha) for e in np.linspace(0.1, 60, 300)]
        assert np.all(np.isfinite(powers)) and np.all(np.diff(powers) >= -1e-12)
    assert detectable(1.0, 10, 0.05 / 3) == pytest.approx(1.22, abs=0.01)


def test_no_effect_is_rarely_consistent_or_contradicted():
    """Rows drawn from one distribution: a claim may come out consistent or contradicted only by chance,
    at most alpha (two-sided) of the time."""
    rng = np.random.default_rng(1)
    trials, wrong = 300, 0
    for _ in range(trials):
        a, b = rng.normal(70, 2, 5), rng.normal(70, 2, 5)
        (f,) = evaluate_claims([claim("a beats b", "a", "b")],
                               {"a": row(dict(enumerate(a))), "b": row(dict(enumerate(b)))}, Finding)
        wrong += f.status in ("consistent", "contradicted")
    assert wrong / trials <= ALPHA + 2 * np.sqrt(ALPHA * (1 - ALPHA) / trials)


def test_one_seed_is_underpowered_and_a_missing_row_not_runnable():
    rows = {"a": row({0: 90.0}), "b": row({0: 50.0})}
    (f, g) = evaluate_claims([claim("a beats b", "a", "b"), claim("a beats c", "a", "c")],
                             {**rows, "c": RowRuns()}, Finding)
    assert f.status == "underpowered" and g.status == "not runnable here"
    assert "one seed" in f.evidence and "c not run" in g.evidence


def test_a_metric_undefined_on_every_seed_is_not_runnable_and_says_why():
    """Both rows ran but the metric has no value (at IF 10 no class is Few): not a row that did not run."""
    rows = {name: row({s: 90.0 + s for s in range(3)}) for name in ("a", "b")}
    for r in rows.values():
        for s in r.metrics:
            r.metrics[s]["few"] = None
    (f,) = evaluate_claims([claim("a beats b on Few", "a", "b", metrics=("few",))], rows, Finding)
    assert f.status == "not runnable here"
    assert "no seed where both a and b have a value" in f.evidence and "not run" not in f.evidence


def test_families_are_never_mixed_in_holm():
    """Seven exploratory claims with tiny p-values do not make a paper claim pay for them: its Holm p is
    its own (a family of one) and stays its own when the others are added."""
    rng = np.random.default_rng(6)
    base = rng.normal(70, 2, 5)
    rows = {"p": row(dict(enumerate(base + 1.5 + rng.normal(0, 0.6, 5)))), "b": row(dict(enumerate(base)))}
    for i in range(7):
        rows[f"x{i}"] = row(dict(enumerate(base + 5 + rng.normal(0, 0.2, 5))))
    paper = claim("p beats b", "p", "b")
    alone = evaluate_claims([paper], rows, Finding)[0].test["tests"][0]
    explore = [claim(f"x{i} beats b", f"x{i}", "b", family="exploratory") for i in range(7)]
    found = evaluate_claims([paper, *explore], rows, Finding)
    t = found[0].test["tests"][0]
    assert t["p_holm"] == pytest.approx(alone["p"]) == pytest.approx(alone["p_holm"]) and t["family"] == "paper"
    ps = [f.test["tests"][0]["p"] for f in found[1:]]
    assert [f.test["tests"][0]["p_holm"] for f in found[1:]] == pytest.approx(holm_adjust(ps))
    assert all(f.test["family"] == "exploratory" and f.evidence.startswith("[exploratory") for f in found[1:])


def test_an_all_claim_is_one_hypothesis_and_a_shared_test_is_counted_once():
    """Intersection-union: a claim on three metrics is one member of Holm's family with p = its largest
    test p, no correction inside; "best of all" reuses the earlier claim's test against the same row."""
    rng = np.random.default_rng(7)
    base = rng.normal(0.08, 0.01, 6)
    rows = {"a": RowRuns(), "b": RowRuns(), "c": RowRuns()}
    for name, shift in (("a", -0.02), ("b", 0.0), ("c", 0.01)):
        for s in range(6):
            rows[name].metrics[s] = {k: base[s] + shift + rng.normal(0, 0.002) for k in ("dp", "eo", "ed_mean")}
            rows[name].metrics[s]["accuracy"] = 90 + shift * 100 + rng.normal(0, 0.3)
            rows[name].scoring[s] = None
    fair = claim("a is fairer than b", "a", "b", ("dp", "eo", "ed_mean"), delta=0.005)
    (f,) = evaluate_claims([fair], rows, Finding)
    ps = [t["p"] for t in f.test["tests"]]
    assert max(t["p_holm"] for t in f.test["tests"]) == pytest.approx(max(ps))  # a family of one claim: no correction
    first, best = evaluate_claims([claim("a beats b", "a", "b"), claim("a is the best", "a", None)], rows, Finding)
    assert first.test["tests"][0] == best.test["tests"][0]  # the same test, shared
    assert "counted once" in best.evidence
    # two hypotheses in the family (the shared test belongs to the first): Holm over two p's
    own = [first.test["tests"][0]["p"], best.test["tests"][1]["p"]]
    assert [first.test["tests"][0]["p_holm"], best.test["tests"][1]["p_holm"]] == pytest.approx(holm_adjust(own))


def test_a_claim_against_every_row_and_mode_any():
    rng = np.random.default_rng(2)
    rows = {name: row(dict(enumerate(rng.normal(mu, 0.3, 5)))) for name, mu in (("a", 80), ("b", 70), ("c", 79.9))}
    (best,) = evaluate_claims([claim("a is the best", "a", None)], rows, Finding)
    assert best.status in ("equivalent", "underpowered") and len(best.test["tests"]) == 2  # beats b clearly, c not
    assert [t["verdict"] for t in best.test["tests"]][0] == "consistent"
    (any_,) = evaluate_claims([claim("a beats b or c", "a", "b", mode="any")], rows, Finding)
    assert any_.status == "consistent"
    (only_c,) = evaluate_claims([claim("a beats c", "a", None, rivals=("c",))], rows, Finding)
    assert [t["rival"] for t in only_c.test["tests"]] == ["c"]


def test_a_claim_without_margin_or_family_is_refused():
    with pytest.raises(ConfigError, match="margin delta"):
        Claim("x", "a", "b", ("accuracy",)).check(["a", "b"])
    with pytest.raises(ConfigError, match="family"):
        Claim("x", "a", "b", ("accuracy",), delta=1.0, reason="r", family="mine").check(["a", "b"])


def scoring(n=1000, classes=2, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    return Scoring(labels, None, labels, classes, tuple(map(str, range(classes))), None, np.full(classes, 500), None)


def test_the_test_image_interval_matches_the_binomial_standard_error():
    sc = scoring()
    rng = np.random.default_rng(3)
    pred = np.where(rng.random(1000) < 0.8, sc.labels, 1 - sc.labels)  # about 80 % right
    acc = 100 * float((pred == sc.labels).mean())
    low, high = resampled_interval([(sc, [pred])], ["accuracy"], n_resamples=2000)["accuracy"]
    se = 100 * np.sqrt(acc / 100 * (1 - acc / 100) / 1000)
    assert low < acc < high and (high - low) == pytest.approx(2 * 1.96 * se, rel=0.15)
    # two rows on the same images: a clear difference has an interval away from zero
    worse = np.where(rng.random(1000) < 0.7, sc.labels, 1 - sc.labels)
    d = difference_interval([(sc, [(pred, worse)])], "accuracy", n_resamples=2000)
    diff = acc - 100 * float((worse == sc.labels).mean())
    assert d[0] > 0 and d[0] < diff < d[1]


def test_a_significant_seed_test_inside_the_test_sampling_error_is_underpowered_on_a_fixed_split():
    sc = scoring()
    rng = np.random.default_rng(4)
    right = lambda p: np.where(rng.random(1000) < p, sc.labels, 1 - sc.labels)  # noqa: E731
    preds_a = {s: right(0.801) for s in range(4)}
    preds_b = {s: right(0.800) for s in range(4)}
    a = {s: 80.4 + 0.01 * s + 0.001 * (s % 2) for s in range(4)}  # the seeds say a > b with no doubt...
    b = {s: 80.0 + 0.01 * s for s in range(4)}
    rows = {"a": row(a, predictions=preds_a, scoring=sc), "b": row(b, predictions=preds_b, scoring=sc)}
    (f,) = evaluate_claims([claim("a beats b", "a", "b")], rows, Finding, resamples=500)
    t = f.test["tests"][0]
    assert t["test_split"] == "fixed" and t["p_holm"] < ALPHA
    assert t["test_ci95"][0] < 0 < t["test_ci95"][1]  # ...the test images do not
    assert f.status != "consistent" and "test split fixed across seeds" in f.evidence
    # each seed on its own test split: the seeds already carry that noise, the interval is not used
    other = {s: scoring(seed=s) for s in range(4)}
    per_seed = {"a": row(a, predictions=preds_a), "b": row(b, predictions=preds_b)}
    for r in per_seed.values():
        r.scoring = dict(other)
    (g,) = evaluate_claims([claim("a beats b", "a", "b")], per_seed, Finding, resamples=500)
    assert g.test["tests"][0]["test_split"] == "per seed" and g.test["tests"][0]["test_ci95"] is None
    assert g.status == "consistent" and "its own test split" in g.evidence


def test_shape_rules_need_five_seeds_and_a_sign_test():
    fs = FindingSet()
    fs.rule("holds on five", {s: True for s in range(5)})
    fs.rule("holds on three", {0: True, 1: True, 2: True})
    fs.rule("holds on one", {0: True, 1: False, 2: None})
    fs.rule("fails on eight", {s: False for s in range(8)})  # 1/256 < 0.05 / 5 members
    fs.paired("a above b by 10", {0: 30.0, 1: 31.0, 2: 29.5}, {0: 10.0, 1: 10.5, 2: 9.0}, margin=10.0, **DELTA)
    found = fs.findings(Finding)
    assert [f.status for f in found] == ["underpowered", "underpowered", "underpowered", "contradicted", "consistent"]
    # five rules and a paired value: the five-of-five sign test p = 1/32 does not clear Holm's step over 5 members
    p = stats.binomtest(5, 5, 0.5, alternative="greater").pvalue
    assert found[0].test["tests"][0]["p"] == pytest.approx(p) and found[0].test["tests"][0]["n"] == 5
    assert "sign-test p = 0.0312" in found[0].evidence
    alone = FindingSet()
    alone.rule("holds on five", {s: True for s in range(5)})
    (f,) = alone.findings(Finding)
    assert f.status == "consistent" and f.test["tests"][0]["p_holm"] == pytest.approx(p)
    assert sign_test_p(4, 6) == pytest.approx(stats.binomtest(4, 6, 0.5, alternative="greater").pvalue)


def test_a_difference_without_spread_is_judged_by_the_sign_test():
    """Every seed giving the same difference (fig3's share of class pairs: 0.0 on every seed, against
    0.5) leaves the t-test and its power undefined; the exact two-sided sign test decides instead, and
    the seeds it needs are those that clear the family's level all one way (never "0 detectable")."""
    def one(n, family_size=1):
        fs = FindingSet()
        for k in range(family_size):
            fs.paired(f"share above one half ({k})", {s: 0.0 for s in range(n)}, {s: 0.5 for s in range(n)},
                      delta=0.05, reason="a twentieth of the share")
        return fs.findings(Finding)[0]
    five = one(5, family_size=2)
    t = five.test["tests"][0]
    assert t["sign_test"] and t["p"] == pytest.approx(stats.binomtest(5, 5, 0.5).pvalue) == 0.0625
    assert t["detectable"] is None and t["seeds_needed"] == 7  # 2 x 0.5**7 < 0.05 / 2 members
    assert five.status == "underpowered" and "exact two-sided sign test" in five.evidence
    assert "detectable at 80 % power" not in five.evidence
    eight = one(8)
    assert eight.status == "contradicted" and eight.test["tests"][0]["p"] == pytest.approx(2 * 0.5 ** 8)
