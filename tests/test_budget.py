"""Budgets for differences (issue 29): a claim's paired difference at 1x and 2x steps, marked
budget-sensitive when the 2x difference leaves the 1x interval; benchmarks/budget_check.py refuses
bad input with `error:` and exit 2 before any training (issue 33)."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from synaug.experiments.budget import mark_budget

ROOT = Path(__file__).resolve().parents[1]


def finding(claim, diff, ci, metric="accuracy", rival="ce"):
    return {"claim": claim, "status": "consistent", "evidence": "e",
            "test": {"family": "paper", "tests": [{"metric": metric, "rival": rival, "diff": diff, "ci95": ci}]}}


def test_a_difference_that_leaves_its_interval_is_budget_sensitive():
    one = [finding("a beats ce", 10.0, [8.0, 12.0]), finding("b beats ce", 3.0, [1.0, 5.0]),
           finding("one seed", 2.0, None), finding("not at 2x", 1.0, [0.5, 1.5])]
    two = [finding("a beats ce", 4.0, [3.0, 5.0]), finding("b beats ce", 3.5, [2.0, 5.0]),
           finding("one seed", 9.0, None)]
    marked = mark_budget(one, two)
    assert [f["budget_sensitive"] for f in marked] == [True, False, None, None]
    b = marked[0]["test"]["tests"][0]["budget"]
    assert b == {"diff_1x": 10.0, "diff_2x": 4.0, "change": -6.0, "ci95_1x": [8.0, 12.0], "sensitive": True}
    assert "budget-sensitive" in marked[0]["evidence"] and "budget-stable" in marked[1]["evidence"]
    assert one[0]["evidence"] == "e" and "budget" not in one[0]["test"]["tests"][0]  # inputs untouched
    # matched by claim, metric and rival: another rival's 2x difference is not this one's
    other = mark_budget([finding("c", 1.0, [0.0, 2.0], rival="x")], [finding("c", 9.0, [8.0, 10.0], rival="y")])
    assert other[0]["budget_sensitive"] is None


def budget_check():
    spec = importlib.util.spec_from_file_location("budget_check", ROOT / "benchmarks" / "budget_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("args,message", [
    (["--seeds", "a,b"], "--seeds takes comma-separated integers"),
    (["--seeds", "0,0"], "repeats a seed"),
    (["--steps", "-5"], "--steps takes an integer >= 1"),
    (["--only", "table9"], "not budget-checked experiments"),
    (["--out", "FILE"], "is a file, not a folder"),
    (["--store", "FILE"], "--store"),
    (["--shared", "FILE"], "--shared"),
    (["--workers", "0"], "--workers takes an integer >= 1"),
    (["--markdown", "DIR"], "is a folder; give a file name"),
    (["--markdown", "DIR/missing/x.md"], "does not exist"),
])
def test_budget_check_refuses_bad_input_with_exit_2(tmp_path, capsys, args, message):
    (tmp_path / "FILE").write_text("mine")
    (tmp_path / "DIR").mkdir()
    args = [str(tmp_path / a) if a in ("FILE", "DIR") or a.startswith("DIR/") else a for a in args]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as exit_:
        budget_check().main(args)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "error:" in err and message in err
    assert (tmp_path / "FILE").read_text() == "mine" and not (tmp_path / "out").exists()


def test_budget_check_script_exits_2_without_a_traceback(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "budget_check.py"), "--seeds", "x", "--out",
                        str(tmp_path / "out")], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 2 and "error: argument --seeds" in r.stderr and "Traceback" not in r.stderr


def test_budget_check_leaves_table5s_learned_rows_out_at_both_budgets_and_doubles_only_what_counts(tmp_path, capsys):
    """table5's learned-generator rows would refit a ddpm per seed and pool at each budget: left out at 1x and
    2x alike (the dry run lists no generator fit), while uniformization's epochs double at 2x only."""
    from synaug.experiments.tables import longtail
    module = budget_check()
    assert module.options_at("table5", 1) == module.options_at("table5", 2) == {
        "options": {"skip_rows": [longtail.LEARNED_TRAIN, longtail.LEARNED_UNUSED]}}
    assert module.options_at("uniformization", 1) is None
    assert module.options_at("uniformization", 2)["options"]["epochs"] == 2 * module.uniformization.DEFAULTS["epochs"]
    assert module.options_at("table2", 2) is None
    module.main(["--only", "table5", "--seeds", "0", "--steps", "2", "--dry-run", "--out", str(tmp_path / "out"),
                 "--store", str(tmp_path / "store"), "--shared", str(tmp_path / "shared")])
    out = capsys.readouterr().out
    for factor, steps in ((1, 2), (2, 4)):
        line = next(line for line in out.splitlines() if line.startswith(f"table5 at {factor}x ({steps} steps)"))
        assert "7 distinct jobs" in line and "0 generator fit(s)" in line, line  # 7 rows run here, 1 seed
