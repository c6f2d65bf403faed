"""Plan strategies that read a `synaug audit`: proportional and threshold fills."""

import json

import pytest

from synaug.errors import PlanError
from synaug.plans import plan_counts

COUNTS = {0: 100, 1: 40, 2: 10, 3: 5}


def _audit(tmp_path, scores, counts=COUNTS, keys=None, **extra):
    cells = [dict(cell=i, key=(keys or [str(c) for c in counts])[i], name=f"c{c}", real=n, score=s,
                  fidelity=None if s is None else 1 - s, **extra)
             for i, ((c, n), s) in enumerate(zip(counts.items(), scores))]
    (tmp_path / "audit.json").write_text(json.dumps({"cells": cells}))
    return tmp_path


def test_proportional_fill_is_score_times_uniform_fill(tmp_path):
    d = _audit(tmp_path, [None, 0.5, 0.25, 0.0])
    assert plan_counts(COUNTS, f"audit-proportional:{d}") == {0: 0, 1: 30, 2: 22, 3: 0}  # 60*.5, round(90*.25)
    assert plan_counts(COUNTS, f"audit-proportional:{d / 'audit.json'}") == {0: 0, 1: 30, 2: 22, 3: 0}


def test_threshold_fill_and_unscored_cells(tmp_path):
    d = _audit(tmp_path, [None, 0.5, 0.49, None])
    assert plan_counts(COUNTS, f"audit-threshold:{d}:0.5") == {0: 0, 1: 60, 2: 0, 3: 95}  # unscored: uniform
    assert plan_counts(COUNTS, f"audit-threshold@fidelity:{d}:0.5") == {0: 0, 1: 60, 2: 90, 3: 95}


def test_group_cells_match_by_plan_key(tmp_path):
    counts = {(0, 0): 50, (0, 1): 10, (1, 0): 20, (1, 1): 50}
    d = _audit(tmp_path, [None, 1.0, 0.1, None], counts=counts, keys=["0:0", "0:1", "1:0", "1:1"])
    assert plan_counts(counts, f"audit-proportional:{d}") == {(0, 0): 0, (0, 1): 40, (1, 0): 3, (1, 1): 0}


@pytest.mark.parametrize("strategy, message", [
    ("audit-threshold:{d}", "audit-threshold:PATH:T"),
    ("audit-threshold:{d}:1.5", "between 0 and 1"),
    ("audit-proportional@gap:{d}", "unknown score"),
    ("audit-sideways:{d}", "bad audit strategy"),
    ("audit-proportional:{d}/nope", "no audit at"),
])
def test_bad_audit_strategies_are_plan_errors(tmp_path, strategy, message):
    d = _audit(tmp_path, [None, 0.5, 0.5, 0.5])
    with pytest.raises(PlanError, match=message):
        plan_counts(COUNTS, strategy.format(d=d))


def test_an_audit_of_other_data_is_refused(tmp_path):
    d = _audit(tmp_path, [None, 0.5, 0.5, 0.5])
    with pytest.raises(PlanError, match="other training data"):
        plan_counts({0: 100, 1: 40, 2: 10, 3: 6}, f"audit-proportional:{d}")
    with pytest.raises(PlanError, match="audits cells"):
        plan_counts({0: 100, 1: 40, 2: 10}, f"audit-proportional:{d}")
    (tmp_path / "audit.json").write_text("[1, 2]")
    with pytest.raises(PlanError, match="not an audit.json"):
        plan_counts(COUNTS, f"audit-proportional:{d}")


def test_plan_cli_writes_the_audit_budget_into_the_plan(tmp_path, capsys):
    from synaug.cli import main
    from synaug.data import load_dataset
    from synaug.cells import cell_tag as cell_key
    from synaug.plans import read_plan

    counts = load_dataset("mnist-lt", imbalance=10).train.cell_counts()
    scores = [None if i == 0 else (0.0 if i % 2 else 0.9) for i in range(10)]
    cells = [dict(cell=c, key=cell_key(c), name=str(c), real=n, score=s) for (c, n), s in zip(counts.items(), scores)]
    (tmp_path / "audit.json").write_text(json.dumps({"cells": cells}))
    plan = tmp_path / "plan.csv"
    assert main(["plan", "--dataset", "mnist-lt", "--imbalance", "10", "--strategy",
                 f"audit-threshold:{tmp_path}:0.5", "--out", str(plan)]) == 0
    items, meta = read_plan(plan)
    added = {r["cell"]: r["add"] for r in meta["cells"]}
    assert all(added[str(c)] == 0 for c in range(1, 10, 2)) and added["2"] == counts[0] - counts[2]
    assert meta["strategy"] == f"audit-threshold:{tmp_path}:0.5" and len(items) == sum(added.values())
    assert main(["plan", "--dataset", "mnist-lt", "--strategy", f"audit-threshold:{tmp_path}:0.5",
                 "--out", str(tmp_path / "p2.csv")]) == 2  # IF 100: other real counts
    assert "other training data" in capsys.readouterr().err
