"""The report's main table reads at a glance: it fits a 1,280 px page with Few in view (headless
Chromium), and an interval is shown only where it means something."""

import json
import re
import shutil
import subprocess

import pytest
from scipy import stats as scipy_stats

from synaug.experiments.stats import Stat, format_intervals
from synaug.experiments.table import Table
from synaug.pages import headline_first, page, table_html

COLUMNS = ["accuracy", "many", "medium", "few", "balanced_accuracy", "gmean"]
WHAT = {"ce": "plain cross-entropy on the real long-tailed images, no re-balancing of any kind",
        "ce-rs": "cross-entropy with class-balanced re-sampling of the real images (each class drawn equally)",
        "synaug": "cross-entropy on the real images plus the planned synthetic images, uniform to the head"}


def results_table(seeds=(0, 1)) -> dict:
    """A long-tail table as a run writes it: 2 seeds with wildly different values (wide t-intervals)."""
    spread = {"ce": (50.1, 99.0), "ce-rs": (63.5, 1.2), "synaug": (46.9, 99.9)}
    rows = {name: {k: Stat.of([a, b, a][:len(seeds)], list(seeds)) for k in COLUMNS}
            for name, (a, b) in spread.items()}
    for row in rows.values():
        for v in row.values():
            v.test_ci95 = [v.mean - 4.0, v.mean + 4.0]
    return Table("longtail: imagefolder:first/photos (8 classes, measured IF=50.0)", COLUMNS, rows).to_dict()


def test_two_seeds_show_no_interval_and_three_are_clipped_to_the_scale():
    two = Stat.of([12.5, 97.0], [0, 1])
    assert two.ci95[0] < 0  # 1 degree of freedom: the raw t-interval leaves the scale
    assert format_intervals(two, "{:.2f}", (0, 100)) == "seeds n = 2: no interval"
    three = Stat.of([10.0, 95.0, 50.0], [0, 1, 2])
    half = scipy_stats.t.ppf(0.975, 2) * three.std / 3 ** 0.5
    assert three.ci95 == pytest.approx([three.mean - half, three.mean + half])
    assert format_intervals(three, "{:.2f}", (0, 100)) == "seeds [0.00, 100.00]"
    assert format_intervals(three, "{:.1f}") == f"seeds [{three.mean - half:.1f}, {three.mean + half:.1f}]"


def test_the_table_puts_headline_metrics_first_and_intervals_out_of_the_cells():
    assert headline_first(COLUMNS) == [3, 4, 0, 1, 2, 5]  # Few, Balanced, All, then Many, Medium, G-mean
    html = table_html(results_table(), WHAT, "what it is", {"ce": "at chance"})
    heads = re.findall(r"<th(?: class=text)?>([^<]*)</th>", html)
    assert heads[:5] == ["row", "Few", "Balanced", "All", "Many"]
    assert "-185" not in html and "[-" not in html  # no interval below the scale, from 2 seeds
    assert html.count("title='seeds n = 2: no interval; test images [") == 18
    assert "<details class=intervals>" in html and "<br>" not in html


def measured_layout(tmp_path, html: str) -> dict:
    """Chromium at 1,280 x 900 lays the page out; a script writes what it measured into the DOM."""
    probe = """<script>window.addEventListener('load', () => {
      const th = [...document.querySelectorAll('th')].find(e => e.textContent === 'Few');
      const r = th.getBoundingClientRect();
      document.body.insertAdjacentHTML('beforeend', '<pre id=layout>' + JSON.stringify({
        few_left: r.left, few_right: r.right, few_top: r.top, width: window.innerWidth,
        height: window.innerHeight, page_width: document.documentElement.scrollWidth}) + '</pre>');
    });</script>"""
    path = tmp_path / "report.html"
    path.write_text(html + probe)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    out = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                          "--window-size=1280,900", "--run-all-compositor-stages-before-draw",
                          "--virtual-time-budget=5000", "--dump-dom", path.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    return json.loads(re.search(r"<pre id=\"?layout\"?>(.*?)</pre>", out).group(1).replace("&quot;", '"'))


@pytest.mark.skipif(not (shutil.which("chromium") or shutil.which("chromium-browser")),
                    reason="headless Chromium is not installed (scripts/install-system-deps.sh installs it)")
def test_the_main_table_fits_a_1280_px_page_with_few_in_view(tmp_path):
    intro = "<h1>synaug run</h1><p>" + "The setup, chance and what each method is. " * 8 + "</p>"
    body = intro + table_html(results_table(), WHAT, "what it is", {"ce": "at chance"})
    layout = measured_layout(tmp_path, page("synaug report", body))
    assert layout["width"] == 1280
    assert 0 <= layout["few_left"] and layout["few_right"] <= layout["width"]  # Few: no horizontal scroll
    assert layout["few_top"] < layout["height"]  # and above the fold
    assert layout["page_width"] <= layout["width"]  # nothing runs off the page's right edge


@pytest.mark.skipif(not (shutil.which("chromium") or shutil.which("chromium-browser")),
                    reason="headless Chromium is not installed (scripts/install-system-deps.sh installs it)")
def test_the_audit_table_fits_the_page_with_its_longest_verdicts(tmp_path):
    """The audit's table (verdict second, `used` last) fits 1,280 px when every verdict is the longest one
    (the first-day walk's photo report ran its `used` column off the right edge)."""
    from synaug.audit.verdict import TOO_FEW
    from synaug.experiments.report import audit_section

    long_name = "a rather long class name"
    cells = [{"name": f"{long_name} {i}", "verdict": f"{TOO_FEW}: transfer 0 % of 4 validation images, false alarms "
              "0 % of 150", "real": 200, "real_val": 40, "score": 0.5, "fidelity": 0.8, "gap": 1.0, "uniform": 1179,
              "passed_filter": 1142, "budget": 1000, "used": 1000, "synthetic": 1179} for i in range(8)]
    summary = {"cells": cells, "dropped_by_filter": 998, "budget": "audit-proportional", "synthetic_used": 8000,
               "synthetic_uniform": 9432, "audit_seconds": 66.0, "audit": str(tmp_path / "audit")}
    body = table_html(results_table(), WHAT, "what it is", {}) + audit_section(summary)
    layout = measured_layout(tmp_path, page("synaug report", body))
    assert TOO_FEW in body and layout["width"] == 1280
    assert layout["page_width"] <= layout["width"]  # the `used` column is on the page


def test_one_writer_gives_a_run_its_own_sections_and_one_text_table(tmp_path):
    """`write_result` writes an experiment's and a run's results alike; the run's data, synthetic set,
    setup and chance sections come from the results dict, and results.txt is the printed table."""
    from types import SimpleNamespace

    from synaug.eval.chance import chance_level
    from synaug.experiments.catalog import ExperimentResult
    from synaug.experiments.experiment_report import format_result_text, write_result
    level = chance_level(3, 300)
    table = Table("longtail: mine", ["accuracy"], {"ce": {"accuracy": Stat.of([33.0], [0])},
                                                    "synaug": {"accuracy": Stat.of([80.0], [0])}})
    rows = {"ce": {"method": "ce", "description": "plain cross-entropy", "seeds": {"0": {"accuracy": 33.0}},
                   "per_class_mean": [100.0, 0.0, 0.0], "accuracy_mean": 33.0},
            "synaug": {"method": "synaug", "description": "SYNAuG", "seeds": {"0": {"accuracy": 80.0}},
                       "per_class_mean": [90.0, 80.0, 70.0], "accuracy_mean": 80.0}}
    data = {"class_names": ["a", "b", "c"], "class_counts": [60, 20, 5], "train_cells": {"a": 60, "b": 20, "c": 5},
            "cells": "classes", "train_images": 85, "test_images": 300, "imbalance_factor": 12.0}
    synthetic = {"True": {"by_cell": False, "images": 95, "folder": "syn/x", "cells": {"b": 40, "c": 55},
                          "undrawable": {}, "grid": "grid-classes.png"}}
    result = ExperimentResult(tables=[table], rows=rows, chance=level, at_chance=["ce"],
                              sections={"data": data, "synthetic": synthetic})
    run = SimpleNamespace(name="run", title="longtail: mine", paper="")
    cfg = {"task": "longtail", "dataset": "imagefolder:mine", "imbalance": None, "seeds": [0],
           "generate": {"generator": "render"}, "train": {"steps": 3}}
    results = write_result(run, cfg, tmp_path, result, 1.0)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["rows"]["ce"]["description"] == "plain cross-entropy" and saved["at_chance"] == ["ce"]
    assert saved["data"] == data and saved["synthetic"] == synthetic and saved["caveat"] == ""
    text = (tmp_path / "results.txt").read_text()
    assert text == format_result_text(results) + "\n"
    assert "WARNING: row ce is at chance: accuracy 33.00 %" in text and "synaug" in text
    page = (tmp_path / "report.html").read_text()
    for part in ("what it is", "plain cross-entropy", "at chance", "measured imbalance factor 12.0",
                 "Training set: 85 real images in 3 classes (60 in the largest, 5 in the smallest)",
                 "Uniformization over classes", "Per-class accuracy", "Chance: 33.33 %"):
        assert part in page, part
    assert "Stand-in" not in page  # no paper: no comparison with the paper's numbers
