"""The audit's verdict per cell (synaug.audit.verdict): transfer against the probe's false alarms,
with an interval that accounts for both sample sizes."""

import math

import numpy as np
import pytest
from scipy.stats import binomtest

from synaug.audit import metrics as M
from synaug.audit.verdict import (MARGIN, NOT_RECOGNISED, PARTLY, RECOGNISED, TOO_FEW, add_verdicts,
                                  difference_interval, format_verdicts)


def newcombe(k1, n1, k2, n2):
    """Newcombe's hybrid score interval (1998, method 10) from scipy's Wilson intervals."""
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = binomtest(k1, n1).proportion_ci(method="wilson")
    l2, u2 = binomtest(k2, n2).proportion_ci(method="wilson")
    return p1 - p2 - math.hypot(p1 - l1, u2 - p2), p1 - p2 + math.hypot(u1 - p1, p2 - l2)


@pytest.mark.parametrize("counts", [(10, 10, 93, 150), (3, 3, 1, 20), (0, 10, 60, 100), (9, 14, 105, 150)])
def test_the_interval_is_newcombes(counts):
    assert difference_interval(*counts) == pytest.approx(newcombe(*counts), abs=1e-4)


def test_a_probe_that_calls_everything_one_class_recognises_nothing():
    # the astronaut case: 8 cells of validation images, a probe that answers "astronaut" (0) for all
    val = np.repeat(np.arange(8), [10, 40, 30, 25, 20, 15, 6, 4])
    pred = np.zeros_like(val)
    rows = []
    for c in range(8):
        recall, _ = M.recall_and_confusions(val, pred, c)
        rows.append(dict(name=f"c{c}", synthetic=20, transfer=recall, real_val=int((val == c).sum()),
                         false_alarm=M.false_alarm(val, pred, c)))
    add_verdicts(rows)
    assert rows[0]["transfer"] == 1.0 and rows[0]["false_alarm"] == 1.0
    assert all(not r["verdict"].startswith((RECOGNISED, PARTLY)) for r in rows)
    assert rows[0]["verdict"].startswith(NOT_RECOGNISED)  # 100 % against 100 % false alarms
    # the numbers: 10 of 10 recalled, 62 % of 150 others also called astronaut
    astronaut = add_verdicts([dict(name="astronaut", synthetic=10, transfer=1.0, real_val=10, false_alarm=0.62),
                              dict(name="rest", synthetic=10, transfer=0.0, real_val=150, false_alarm=0.0)])[0]
    low, high = newcombe(10, 10, 93, 150)
    assert 0 < low < MARGIN and astronaut["verdict"].startswith(PARTLY)
    assert f"[{100 * low:.0f}, {100 * high:.0f}] points" in astronaut["verdict"]
    assert "62 % of 150 other cells' images" in astronaut["verdict"]


def test_the_verdict_follows_its_own_numbers():
    rows = add_verdicts([dict(name="cat", synthetic=10, transfer=0.0, real_val=30, false_alarm=0.1, gap=1.0),
                         dict(name="dog", synthetic=10, transfer=0.9, real_val=20, false_alarm=0.05, gap=0.6),
                         dict(name="emu", synthetic=10, transfer=0.45, real_val=400, false_alarm=0.2),
                         dict(name="fox", synthetic=10, transfer=0.5, real_val=2, false_alarm=0.3),
                         dict(name="gnu", synthetic=0, transfer=None, real_val=5)])
    verdicts = [r["verdict"] for r in rows]
    assert verdicts[0].startswith(NOT_RECOGNISED) and "told from real images 100 %" in verdicts[0]
    assert verdicts[1].startswith(RECOGNISED) and verdicts[2].startswith(PARTLY)
    assert verdicts[3].startswith(TOO_FEW) and verdicts[4].startswith("no synthetic images")
    text = format_verdicts(rows)
    assert text.splitlines()[1].strip().startswith("cat")
    assert "1 of 4 filled cells are not recognised" in text
    assert "1 of 4 filled cells have too few validation images to tell" in text
    # an old audit.json without false alarms: judged against guessing (1 / 4 cells)
    old = add_verdicts([dict(name="a", synthetic=5, transfer=0.25, real_val=400), *[
        dict(name=f"b{i}", synthetic=5, transfer=0.9, real_val=400) for i in range(3)]])
    assert old[0]["verdict"].startswith(NOT_RECOGNISED) and "chance 25 %" in old[0]["verdict"]
