"""Is a claimed difference a product of the training budget? The same experiment run at 1x and 2x
stage-1 steps over the same seeds: each claim's paired difference (a test of its findings) at both,
and how it moved. A test whose 2x difference falls outside its 1x 95 % interval (over seeds) moved by
more than its interval: `budget-sensitive`; with no interval (one seed) it is undecided.

`mark_budget(findings_1x, findings_2x)` takes the findings of the two results.json files (matched
by claim text, metric and rival) and returns the 1x findings with a `budget` record on each test,
`budget_sensitive` on each finding and a note at the end of its evidence, so the tables rebuilt
from the 1x results carry the mark.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path


def test_key(claim: str, test: dict) -> tuple:
    return claim, test.get("metric"), test.get("rival")


def moved(one: dict, two: dict) -> dict:
    """The budget record of one test: its difference at 1x and 2x, the change, and whether the 2x
    difference lies outside the 1x interval (None: no interval or no 2x difference)."""
    d1, d2, ci = one.get("diff"), (two or {}).get("diff"), one.get("ci95")
    change = None if d1 is None or d2 is None else d2 - d1
    sensitive = None if change is None or not ci else not (ci[0] <= d2 <= ci[1])
    return {"diff_1x": d1, "diff_2x": d2, "change": change, "ci95_1x": ci, "sensitive": sensitive}


def mark_budget(findings_1x: list[dict], findings_2x: list[dict]) -> list[dict]:
    """The 1x findings (copies) marked with how each claimed difference moved at 2x (module docstring)."""
    at_2x = {test_key(f["claim"], t): t for f in findings_2x for t in (f.get("test") or {}).get("tests", [])}
    out = []
    for finding in findings_1x:
        f = copy.deepcopy(finding)
        tests = (f.get("test") or {}).get("tests", [])
        for t in tests:
            t["budget"] = moved(t, at_2x.get(test_key(f["claim"], t)))
        marks = [t["budget"]["sensitive"] for t in tests]
        f["budget_sensitive"] = True if any(marks) else (False if marks and all(m is False for m in marks) else None)
        if f["budget_sensitive"] is not None:
            f["evidence"] += "; " + budget_text(f["budget_sensitive"], tests)
        out.append(f)
    return out


def budget_text(sensitive: bool, tests: list[dict]) -> str:
    changes = ", ".join(f"{t['budget']['diff_1x']:+.4g} -> {t['budget']['diff_2x']:+.4g}" for t in tests
                        if t["budget"]["change"] is not None)
    return (f"budget-sensitive: at twice the steps the difference moved outside its interval ({changes})" if sensitive
            else f"budget-stable: at twice the steps the difference stayed inside its interval ({changes})")


def mark_results(path_1x: Path, path_2x: Path) -> list[dict]:
    """`mark_budget` on the findings of two results.json files."""
    one, two = (json.loads(Path(p).read_text()) for p in (path_1x, path_2x))
    return mark_budget(one["findings"], two["findings"])
