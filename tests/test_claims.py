"""Verdicts a reviewer can trust (issue 18): the statistics against scipy on fixed inputs, Holm's
correction against its definition, the verdict rule on data with a known effect and with none (the
no-effect case comes out inconclusive at the stated rate), and the test-image bootstrap against the
binomial standard error."""

import numpy as np
import pytest
from scipy import stats

from synaug.eval.bootstrap import difference_interval, resampled_interval
from synaug.eval.scoring import Scoring
from synaug.experiments.catalog import Finding
from synaug.experiments.claims import ALPHA, Claim, Comparison, FindingSet, evaluate_claims, holm, paired_test
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


def test_holm_matches_its_definition():
    ps = [0.01, 0.04, 0.03, 0.2, 0.005]
    tests = [Comparison("accuracy", "x", 3, 1.0, None, p) for p in ps]
    holm(tests)
    order = np.argsort(ps)
    expected = np.maximum.accumulate([min(1.0, (len(ps) - i) * ps[j]) for i, j in enumerate(order)])
    assert [tests[j].p_holm for j in order] == pytest.approx(expected)
    assert [t.verdict for t in tests] == ["consistent", "inconclusive", "inconclusive", "inconclusive", "consistent"]


def test_a_known_effect_is_consistent_and_its_opposite_contradicted():
    rng = np.random.default_rng(0)
    base = rng.normal(70, 2, 5)
    better = base + 4 + rng.normal(0, 0.5, 5)
    rows = {"a": row(dict(enumerate(better))), "b": row(dict(enumerate(base)))}
    (f, g) = evaluate_claims([Claim("a beats b", "a", "b", ("accuracy",)), Claim("b beats a", "b", "a", ("accuracy",))],
                             rows, Finding)
    assert f.status == "consistent" and g.status == "contradicted"
    assert "p = " in f.evidence and f.test["tests"][0]["diff"] == pytest.approx(np.mean(better - base))
    # lower-is-better metrics claim the other direction: DP of a lower than b's
    dp = {"a": row(dict(enumerate(base / 1000)), "dp"), "b": row(dict(enumerate(better / 1000)), "dp")}
    (h,) = evaluate_claims([Claim("a is fairer", "a", "b", ("dp",))], dp, Finding)
    assert h.status == "consistent"


def test_no_effect_comes_out_inconclusive_at_the_stated_rate():
    """Rows drawn from one distribution: a claim may come out consistent or contradicted only by chance,
    at most alpha (two-sided) of the time."""
    rng = np.random.default_rng(1)
    trials, wrong = 600, 0
    for _ in range(trials):
        a, b = rng.normal(70, 2, 5), rng.normal(70, 2, 5)
        (f,) = evaluate_claims([Claim("a beats b", "a", "b", ("accuracy",))],
                               {"a": row(dict(enumerate(a))), "b": row(dict(enumerate(b)))}, Finding)
        wrong += f.status != "inconclusive"
    assert wrong / trials <= ALPHA + 2 * np.sqrt(ALPHA * (1 - ALPHA) / trials)


def test_one_seed_is_inconclusive_and_a_missing_row_not_runnable():
    rows = {"a": row({0: 90.0}), "b": row({0: 50.0})}
    (f, g) = evaluate_claims([Claim("a beats b", "a", "b", ("accuracy",)), Claim("a beats c", "a", "c", ("accuracy",))],
                             {**rows, "c": RowRuns()}, Finding)
    assert f.status == "inconclusive" and g.status == "not runnable here"


def test_a_claim_against_every_row_and_mode_any():
    rng = np.random.default_rng(2)
    rows = {name: row(dict(enumerate(rng.normal(mu, 0.3, 5)))) for name, mu in (("a", 80), ("b", 70), ("c", 79.9))}
    (best,) = evaluate_claims([Claim("a is the best", "a", None, ("accuracy",))], rows, Finding)
    assert best.status == "inconclusive" and len(best.test["tests"]) == 2  # beats b clearly, c not
    (any_,) = evaluate_claims([Claim("a beats b or c", "a", "b", ("accuracy",), mode="any")], rows, Finding)
    assert any_.status == "consistent"


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


def test_a_significant_seed_test_inside_the_test_sampling_error_is_inconclusive():
    sc = scoring()
    rng = np.random.default_rng(4)
    right = lambda p: np.where(rng.random(1000) < p, sc.labels, 1 - sc.labels)  # noqa: E731
    preds_a = {s: right(0.801) for s in range(4)}
    preds_b = {s: right(0.800) for s in range(4)}
    acc = lambda p: 100 * float((p == sc.labels).mean())  # noqa: E731
    a = {s: 80.4 + 0.01 * s for s in range(4)}  # the seeds say a > b with no doubt...
    b = {s: 80.0 + 0.01 * s for s in range(4)}
    rows = {"a": row(a, predictions=preds_a, scoring=sc), "b": row(b, predictions=preds_b, scoring=sc)}
    (f,) = evaluate_claims([Claim("a beats b", "a", "b", ("accuracy",))], rows, Finding, resamples=500)
    t = f.test["tests"][0]
    assert t["p"] is None or t["test_ci95"][0] < 0 < t["test_ci95"][1]  # ...the test images do not
    assert f.status == "inconclusive" and acc(preds_a[0]) > 0


def test_finding_set_rules_need_every_seed():
    fs = FindingSet()
    fs.rule("holds everywhere", {0: True, 1: True, 2: True})
    fs.rule("holds on one", {0: True, 1: False, 2: None})
    fs.rule("fails everywhere", {0: False, 1: False})
    fs.rule("one seed", {0: True})
    fs.paired("a above b by 10", {0: 30.0, 1: 31.0, 2: 29.5}, {0: 10.0, 1: 10.5, 2: 9.0}, margin=10.0)
    statuses = [f.status for f in fs.findings(Finding)]
    assert statuses == ["consistent", "inconclusive", "contradicted", "inconclusive", "consistent"]
