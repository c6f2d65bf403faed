import numpy as np
import pytest
from imblearn.utils import check_sampling_strategy

from synaug.errors import PlanError
from synaug.plans import build_plan, image_seed, plan_counts, read_plan, real_cuts, write_plan
from synaug.prompts import load_bank


def _random_counts(rng, k):
    counts = rng.integers(1, 200, size=k)
    y = np.repeat(np.arange(k), counts)
    return {c: int(n) for c, n in enumerate(counts)}, y


@pytest.mark.parametrize("strategy", ["auto", "not majority", "all", "minority", "not minority"])
def test_named_strategies_equal_imblearn(strategy):
    rng = np.random.default_rng(123)
    for _ in range(25):
        counts, y = _random_counts(rng, int(rng.integers(2, 12)))
        expected = check_sampling_strategy(strategy, y, "over-sampling")
        ours = {c: n for c, n in plan_counts(counts, strategy).items() if n > 0 or c in expected}
        assert {c: n for c, n in ours.items() if c in expected} == dict(expected)
        assert all(n == 0 for c, n in ours.items() if c not in expected)


def test_dict_strategy_equals_imblearn():
    rng = np.random.default_rng(7)
    for _ in range(25):
        counts, y = _random_counts(rng, 6)
        targets = {c: n + int(rng.integers(0, 50)) for c, n in counts.items() if rng.random() < 0.6}
        expected = check_sampling_strategy(targets, y, "over-sampling")
        ours = plan_counts(counts, targets)
        assert {c: ours[c] for c in expected} == dict(expected)


def test_uniform_u_beta_lt_alpha():
    counts = {0: 400, 1: 100, 2: 4}
    assert plan_counts(counts, "uniform") == {0: 0, 1: 300, 2: 396}
    assert plan_counts(counts, "U-200") == {0: 0, 1: 100, 2: 196}
    assert real_cuts(counts, "U-200") == {0: 200, 1: 0, 2: 0}
    assert plan_counts(counts, "LT+50") == {0: 50, 1: 50, 2: 50}
    assert plan_counts({(0, 0): 5, (0, 1): 1, (1, 0): 0, (1, 1): 3}, "uniform") == {
        (0, 0): 0, (0, 1): 4, (1, 0): 5, (1, 1): 2}


def test_callable_strategy():
    assert plan_counts({0: 3, 1: 1}, lambda c: {k: 10 for k in c}) == {0: 7, 1: 9}


def test_bad_strategies_are_clear_errors():
    with pytest.raises(PlanError, match="unknown strategy 'most'"):
        plan_counts({0: 1}, "most")
    with pytest.raises(PlanError, match="below its current count"):
        plan_counts({0: 10, 1: 2}, {0: 5})
    with pytest.raises(PlanError, match="not in the data"):
        plan_counts({0: 10}, {3: 20})
    with pytest.raises(PlanError, match="no cells"):
        plan_counts({}, "uniform")


def test_seeds_stable_and_independent_of_plan_shape():
    assert image_seed(0, 3, 17) == image_seed(0, 3, 17)
    assert image_seed(0, 3, 17) != image_seed(1, 3, 17) != image_seed(0, 4, 17)
    bank = load_bank("mnist-lt")
    names = [str(i) for i in range(10)]
    a = build_plan({1: 5, 2: 3}, names, bank, seed=9)
    b = build_plan({2: 3, 1: 8}, names, bank, seed=9)  # more of class 1, other dict order
    seeds_a = {it.file_name: it.seed for it in a}
    seeds_b = {it.file_name: it.seed for it in b}
    assert all(seeds_b[f] == s for f, s in seeds_a.items())
    assert len({it.seed for it in b}) == len(b)


def test_plan_items_prompts_and_roundtrip(tmp_path):
    bank = load_bank(None, template="a photo of {modifier} {class} {group}")
    items = build_plan({(0, 1): 2, (1, 0): 1}, ["dog", "T-shirt/top"], bank, seed=1, group_names=["land", "water"])
    assert [it.file_name for it in items] == ["dog/dog_water_000000.png", "dog/dog_water_000001.png",
                                              "t-shirt_top/t-shirt_top_land_000000.png"]
    assert items[0].prompt == "a photo of a dog water" and items[1].modifier == "a small"
    write_plan(items, tmp_path / "p.csv", {"k": 1})
    back, meta = read_plan(tmp_path / "p.csv")
    assert back == items and meta == {"k": 1}


def test_modifier_bank_yaml_and_errors(tmp_path):
    path = tmp_path / "bank.yaml"
    path.write_text("classes:\n  cat: [fluffy, sleepy]\ndefault: [plain]\n")
    bank = load_bank(str(path))
    assert [bank.modifier("cat", i) for i in range(3)] == ["fluffy", "sleepy", "fluffy"]
    assert bank.modifier("dog", 5) == "plain"
    with pytest.raises(PlanError, match="no modifier bank"):
        load_bank("does-not-exist")
    with pytest.raises(PlanError, match="bad prompt template"):
        load_bank(None, template="a photo of {colour}")
