"""`synaug filter`: drops recorded like the safety checker's, nothing deleted, stable on a re-run,
and kept by a later `synaug generate` of the same plan."""

import csv
import json

import numpy as np
import pytest
from PIL import Image

from synaug.audit.filter import filter_folder
from synaug.data.readers import read_metadata_csv
from synaug.errors import SynaugError
from synaug.generators.base import Generated
from synaug.generators.runner import run_generation
from synaug.plans import PlanItem


class Flat:
    """A generator of flat grey squares (value from the seed): enough to make a real folder."""

    name = "flat"

    def cannot_draw(self, item):
        return None

    def describe(self):
        return {"name": "flat"}

    def generate(self, items):
        return [Generated(Image.fromarray(np.full((8, 8), it.seed % 256, np.uint8), "L")) for it in items]


def _items(n_per_class=4):
    return [PlanItem(file_name=f"{c}/{c}_{i}.png", cell=str(k), label=k, class_name=c, group=None, group_name="",
                     index=i, modifier="", prompt=f"a {c}", seed=100 * k + i)
            for k, c in enumerate(["a", "b"]) for i in range(n_per_class)]


def _audit(tmp_path, images):
    """An audit folder with hand-written per-image scores: {file_name: (cell, own_prob, assigned, ratio)}."""
    d = tmp_path / "audit"
    d.mkdir(parents=True)
    cells = [dict(cell=0, key="0", name="a"), dict(cell=1, key="1", name="b")]
    (d / "audit.json").write_text(json.dumps({"cells": cells}))
    with open(d / "images.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["file_name", "cell", "own_prob", "assigned", "manifold_ratio"])
        for name, (cell, p, assigned, ratio) in images.items():
            w.writerow([name, cell, p, assigned, "" if ratio is None else ratio])
    return d


@pytest.fixture
def folder(tmp_path):
    out = tmp_path / "syn"
    run_generation(_items(), Flat(), out, progress=False)
    scores = {f"a/a_{i}.png": (0, 0.9, 0, 0.5) for i in range(4)}
    scores.update({f"b/b_{i}.png": (1, 0.8, 1, 1.0) for i in range(4)})
    scores["a/a_1.png"] = (0, 0.1, 1, 0.5)    # the real classifier says b
    scores["b/b_2.png"] = (1, 0.7, 1, 3.5)    # far off the real manifold
    scores["b/b_3.png"] = (1, 0.3, 1, None)   # no manifold measure: kept unless own_prob is checked
    return out, _audit(tmp_path, scores)


def _snapshot(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_filter_drops_records_and_keeps_files(folder):
    out, audit = folder
    before = (out / "metadata.csv").read_text()
    report = filter_folder(out, audit)
    assert sorted(f for f, _ in report.dropped) == ["a/a_1.png", "b/b_2.png"] and report.kept == 6
    assert report.per_cell == {"a": [3, 1], "b": [3, 1]}
    with open(out / ".synaug" / "dropped.csv") as f:
        dropped = {r["file_name"]: r["reason"] for r in csv.DictReader(f)}
    assert "label fidelity" in dropped["a/a_1.png"] and "'b'" in dropped["a/a_1.png"]
    assert "off the real manifold" in dropped["b/b_2.png"]
    assert (out / "a" / "a_1.png").is_file() and (out / "b" / "b_2.png").is_file()  # nothing deleted
    assert (out / ".synaug" / "metadata.before-filter.csv").read_text() == before
    ds = read_metadata_csv(out, synthetic=True)
    assert len(ds) == 6 and list(np.bincount(ds.labels)) == [3, 3]
    assert "6 images from" in (out / "README.md").read_text()


def test_filter_rerun_is_stable_and_generate_keeps_the_drops(folder):
    out, audit = folder
    filter_folder(out, audit)
    snap = _snapshot(out)
    again = filter_folder(out, audit)
    assert again.dropped == [] and again.kept == 6 and again.already_dropped == 2
    assert _snapshot(out) == snap
    report = run_generation(_items(), Flat(), out, progress=False)  # the same plan again: nothing redone
    assert report.generated == 0 and len(read_metadata_csv(out, synthetic=True)) == 6
    assert _snapshot(out) == snap


def test_filter_options_and_dry_run(folder):
    out, audit = folder
    snap = _snapshot(out)
    dry = filter_folder(out, audit, label_check=False, max_ratio=None, min_own_prob=0.5, dry_run=True)
    assert sorted(f for f, _ in dry.dropped) == ["a/a_1.png", "b/b_3.png"]
    assert _snapshot(out) == snap
    assert filter_folder(out, audit, label_check=False, max_ratio=None, dry_run=True).dropped == []


def test_filter_keeps_safety_checker_drops(tmp_path):
    out = tmp_path / "syn"
    run_generation(_items(), Flat(), out, progress=False)
    (out / ".synaug" / "dropped.csv").write_text("file_name,reason\nb/b_9.png,NSFW content flagged\n")
    audit = _audit(tmp_path, {f"{c}/{c}_{i}.png": (k, 0.9, k if (c, i) != ("a", 0) else 1, 0.1)
                              for k, c in enumerate("ab") for i in range(4)})
    filter_folder(out, audit)
    text = (out / ".synaug" / "dropped.csv").read_text()
    assert "NSFW content flagged" in text and "a/a_0.png" in text


def test_filter_refuses_an_audit_of_another_folder(folder, tmp_path):
    out, _ = folder
    partial = _audit(tmp_path / "x", {"a/a_0.png": (0, 0.9, 0, 0.1)})
    with pytest.raises(SynaugError, match="no score for 7"):
        filter_folder(out, partial)
    swapped = _audit(tmp_path / "y", {f"{c}/{c}_{i}.png": (1 - k, 0.9, 1 - k, 0.1) for k, c in enumerate("ab") for i in range(4)})
    with pytest.raises(SynaugError, match="another class"):
        filter_folder(out, swapped)
    with pytest.raises(SynaugError, match="not a `synaug audit` folder"):
        filter_folder(out, tmp_path)


def test_filter_cli(folder, capsys):
    from synaug.cli import main

    out, audit = folder
    assert main(["filter", "--synthetic", str(out), "--audit", str(audit), "--dry-run"]) == 0
    assert "would drop 2 image(s), kept 6" in capsys.readouterr().out
    assert main(["filter", "--synthetic", str(out), "--audit", str(audit), "--max-ratio", "-1"]) == 2
    assert "--max-ratio" in capsys.readouterr().err
    assert main(["filter", "--synthetic", str(out / "nope"), "--audit", str(audit)]) == 2
    assert "no metadata.csv" in capsys.readouterr().err
    assert main(["filter", "--synthetic", str(out), "--audit", str(audit)]) == 0
    assert "dropped 2 image(s)" in capsys.readouterr().out
