"""The audited recipe (`synaug-audit`: audit -> filter -> budget of the shared uniform set) and the
audit-score weighting of synthetic images, checked against independent recomputations."""

import csv
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import synaug
from synaug.engine.synthetic import SyntheticSet, read_synthetic
from synaug.audit.core import AuditConfig
from synaug.audit.recipe import RecipeConfig, audited_synthetic
from synaug.audit.weighting import weighted_by_audit
from synaug.training.samplers import ProbabilitySampler
from synaug.data.imageset import DatasetSplits
from synaug.errors import ConfigError
from synaug.experiments.config import resolve_config
from synaug.training import pipeline
from synaug.training.methods import METHODS, get_method
from synaug.training.samplers import SAMPLERS

from helpers import tiny_cfg, tiny_splits

FAST = RecipeConfig(audit=AuditConfig(steps=8, batch_size=16, device="cpu", probe_cap=50))


class NeverRead:
    """A test split that fails the moment anything looks at it."""

    def __getattr__(self, name):
        raise AssertionError(f"the test split was read ({name})")

    def __len__(self):
        raise AssertionError("the test split was read (len)")


def write_folder(ds, folder: Path) -> Path:
    """A `synaug generate`-like folder: PNGs and metadata.csv (plan order = row order)."""
    folder.mkdir(parents=True)
    with open(folder / "metadata.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file_name", "label", "class_name", "group", "group_name", "synthetic"])
        for i in range(len(ds)):
            name = f"{i:05d}.png"
            Image.fromarray(ds.images[i][:, :, 0]).save(folder / name)
            w.writerow([name, ds.labels[i], ds.class_names[ds.labels[i]], ds.groups[i],
                        ds.group_names[ds.groups[i]], 1])
    return folder


@pytest.fixture
def made(tmp_path):
    splits, syn = tiny_splits()
    # 8 images labelled "c" that look like "b" (class c's square is drawn at rows 8-10, b's at 5-7)
    bad = np.flatnonzero(syn.labels == 2)[:8]
    syn.images[bad] = np.minimum(syn.images[bad], 60)
    syn.images[bad, 5:8, 3:9] = 220
    folder = write_folder(syn, tmp_path / "synthetic")
    synthetic = read_synthetic(folder, splits.train, 12)
    poisoned = DatasetSplits(train=splits.train, test=NeverRead(), val=splits.val, info=splits.info)
    return poisoned, folder, synthetic, tmp_path


def run(made, cfg=FAST):
    splits, folder, synthetic, tmp = made
    return audited_synthetic(splits, folder, synthetic, tmp / "audit", tmp / "synthetic-audited", cfg)


def expected_counts(audit_dir: Path, train, max_ratio=2.0) -> tuple[dict, dict]:
    """Independently: per cell key, min(budget, images passing the filter); and the files expected
    (the first ones that pass, in row order)."""
    audit = json.loads((audit_dir / "audit.json").read_text())
    images = list(csv.DictReader(open(audit_dir / "images.csv")))
    top = max(c["real"] for c in audit["cells"])
    expect, files = {}, []
    for c in audit["cells"]:
        fill = top - c["real"]
        budget = fill if c["score"] is None else int(round(fill * c["score"]))
        passing = [im["file_name"] for im in images if int(im["cell"]) == c["cell"]
                   and int(im["assigned"]) == c["cell"]
                   and (im["manifold_ratio"] == "" or float(im["manifold_ratio"]) <= max_ratio)]
        expect[c["key"]] = min(budget, len(passing))
        files += passing[:budget]
    return expect, files


def test_recipe_audits_training_data_only_and_keeps_min_of_budget_and_filter(made):
    splits, folder, synthetic, tmp = made
    subset, summary = run(made)
    audit = json.loads((tmp / "audit" / "audit.json").read_text())
    assert audit["split"]["train"] + audit["split"]["val"] == len(splits.train)  # NeverRead: test untouched
    val = np.array(summary["validation_index"])
    assert len(val) == audit["split"]["val"] and val.min() >= 0 and val.max() < len(splits.train)
    assert (tmp / "audit" / "audit.html").is_file() and (tmp / "audit" / "audit.csv").is_file()
    expect, files = expected_counts(tmp / "audit", splits.train)
    got = {f"{k // 2}:{k % 2}": n for k, n in enumerate(np.bincount(subset.cells(), minlength=6))}
    assert got == expect
    record = json.loads((tmp / "audit" / "recipe.json").read_text())
    assert sorted(record["files"]) == sorted(Path(f).name for f in files)
    assert {r["key"]: r["used"] for r in summary["cells"]} == expect
    # the filter's drops are recorded in the mirror folder; the shared folder is untouched
    dropped = list(csv.DictReader(open(tmp / "synthetic-audited" / ".synaug" / "dropped.csv")))
    assert len(dropped) == summary["dropped_by_filter"] > 0
    assert not (folder / ".synaug").exists()
    mirror = list(csv.DictReader(open(tmp / "synthetic-audited" / "metadata.csv")))
    assert len(mirror) == len(synthetic) - len(dropped)
    assert all((tmp / "synthetic-audited" / r["file_name"]).is_file() for r in mirror)


def test_recipe_rerun_is_stable(made):
    tmp = made[3]
    first, s1 = run(made)
    files = ["synthetic-audited/metadata.csv", "synthetic-audited/.synaug/dropped.csv", "audit/images.csv"]
    before = {f: (tmp / f).read_bytes() for f in files}
    record = json.loads((tmp / "audit" / "recipe.json").read_text())
    second, s2 = run(made)
    assert {f: (tmp / f).read_bytes() for f in files} == before
    assert json.loads((tmp / "audit" / "recipe.json").read_text())["files"] == record["files"]
    assert np.array_equal(first.images, second.images) and np.array_equal(first.labels, second.labels)


def test_recipe_is_reused_for_the_same_inputs_only_and_equals_a_fresh_audit(made):
    """A second call with the same real data, synthetic set and settings returns the recorded result
    (no second audit: audit.json untouched); another setting or another synthetic image audits again;
    the reused result equals what a fresh audit gives."""
    splits, folder, synthetic, tmp = made
    first, s1 = run(made)
    stamp = (tmp / "audit" / "audit.json").stat().st_mtime_ns
    second, s2 = run(made)
    assert s2.pop("reused") is True and (tmp / "audit" / "audit.json").stat().st_mtime_ns == stamp
    assert s2 == s1 and np.array_equal(first.images, second.images) and np.array_equal(first.labels, second.labels)
    _, s3 = run(made, replace(FAST, max_ratio=1.5))
    assert "reused" not in s3 and (tmp / "audit" / "audit.json").stat().st_mtime_ns != stamp
    changed = replace(synthetic, images=synthetic.images.copy())
    changed.images[0] = 255 - changed.images[0]
    _, s4 = audited_synthetic(splits, folder, changed, tmp / "audit", tmp / "synthetic-audited", FAST)
    assert "reused" not in s4
    (tmp / "audit" / "recipe.json").unlink()  # a fresh audit of the first inputs
    fresh, s5 = run(made)
    assert "reused" not in s5 and {**s5, "audit_seconds": 0} == {**s1, "audit_seconds": 0}
    assert np.array_equal(fresh.labels, first.labels)


def test_threshold_budget_keeps_whole_cells_or_none(made):
    splits, _, _, tmp = made
    subset, summary = run(made, replace(FAST, budget="audit-threshold:0.5"))
    for row in summary["cells"]:
        full = row["uniform"]
        assert row["budget"] == (full if row["score"] is None or row["score"] >= 0.5 else 0)
        assert row["used"] == min(row["budget"], row["passed_filter"])


def test_train_run_synaug_audit(made, monkeypatch):
    splits, folder, _, tmp = made
    plain, _ = tiny_splits()
    monkeypatch.setattr("synaug.engine.data.load_dataset", lambda name, **kw: plain)
    monkeypatch.setattr("synaug.audit.recipe.RecipeConfig", lambda: FAST)
    metrics = synaug.train("mnist-lt", "synaug-audit", tmp / "run", synthetic=folder, progress=False,
                           **tiny_cfg().to_dict())
    assert 0 <= metrics["accuracy"] <= 100
    record = json.loads((tmp / "run" / "audit" / "recipe.json").read_text())
    config = (tmp / "run" / "config.yaml").read_text()
    assert f"synthetic_images: {len(record['files'])}" in config


# ----------------------------------------------------------------------------- weighting
def fake_audit(tmp: Path, scores: dict) -> Path:
    cells = [dict(cell=c * 2 + g, key=f"{c}:{g}", name=f"{c}{g}", real=0, score=scores.get((c, g)))
             for c in range(3) for g in range(2)]
    (tmp / "aud").mkdir()
    (tmp / "aud" / "audit.json").write_text(json.dumps({"cells": cells}))
    return tmp / "aud"


def test_weighting_draws_a_score_02_synthetic_image_02x_as_often(tmp_path):
    splits, syn = tiny_splits()
    train_set = splits.train.concat(syn)
    audit = fake_audit(tmp_path, {(1, 0): 0.2, (2, 1): 0.0, (0, 0): 1.0})
    cfg = tiny_cfg(synthetic_weighting="audit", audit=str(audit), batch_size=4096)
    for name, facts in (("shuffle", {}), ("class-balanced", {"labels": train_set.labels})):
        base = SAMPLERS.create(name, dict(n=len(train_set), batch_size=4096, seed=3, **facts))
        s = weighted_by_audit(base, train_set, cfg)
        assert isinstance(s, ProbabilitySampler)
        real = np.flatnonzero(~train_set.synthetic & (train_set.labels == 1))[0]
        low = np.flatnonzero(train_set.synthetic & (train_set.labels == 1) & (train_set.groups == 0))
        zero = np.flatnonzero(train_set.synthetic & (train_set.labels == 2) & (train_set.groups == 1))
        unscored = np.flatnonzero(train_set.synthetic & (train_set.labels == 1) & (train_set.groups == 1))
        assert np.allclose(s.p[low] / s.p[real], 0.2)
        assert np.allclose(s.p[unscored] / s.p[real], 1.0) and np.all(s.p[zero] == 0)
        # empirically, over many draws: same class, so the base probability is the same
        draws = np.concatenate([s.batch(k) for k in range(40)])
        counts = np.bincount(draws, minlength=len(train_set))
        same_class_real = np.flatnonzero(~train_set.synthetic & (train_set.labels == 1))
        ratio = counts[low].mean() / counts[same_class_real].mean()
        assert 0.15 < ratio < 0.25
        assert counts[zero].sum() == 0
        assert np.array_equal(s.batch(5), weighted_by_audit(base, train_set, cfg).batch(5))


def test_weighting_off_by_default_and_reaches_the_loop(tmp_path, monkeypatch):
    splits, syn = tiny_splits()
    m = get_method("synaug")
    sampler, _, _ = pipeline.method_parts(m, splits.train.concat(syn), splits.train, tiny_cfg())
    assert type(sampler) is SAMPLERS[m.sampler]
    audit = fake_audit(tmp_path, {(1, 0): 0.2})
    cfg = tiny_cfg(synthetic_weighting="audit", audit=str(audit))
    sampler, _, _ = pipeline.method_parts(m, splits.train.concat(syn), splits.train, cfg)
    assert isinstance(sampler, ProbabilitySampler)
    with pytest.raises(ConfigError):
        pipeline.method_parts(m, splits.train.concat(syn), splits.train, tiny_cfg(synthetic_weighting="audit"))
    with pytest.raises(ConfigError):
        tiny_cfg(synthetic_weighting="loss")


def test_synaug_audit_is_registered_as_synaug_on_audited_data():
    a, s = METHODS["synaug-audit"], METHODS["synaug"]
    assert a.synthetic_policy == "audited" and s.synthetic_policy == "all"
    assert replace(a, name="synaug", description=s.description, synthetic_policy="all") == s


def test_runner_trains_synaug_audit_on_the_audited_subset_and_reports_it(made, monkeypatch):
    from synaug.experiments import runner
    splits, folder, synthetic, tmp = made
    plain, _ = tiny_splits()
    out = tmp / "exp"
    (out).mkdir()
    folder.rename(out / "synthetic")
    (out / "synthetic" / ".synaug").mkdir(exist_ok=True)  # a generation folder's record: the folder is synaug's
    synthetic = read_synthetic(out / "synthetic", plain.train, 12)
    given = SyntheticSet(synthetic, out / "synthetic", {"undrawable": {}}, np.arange(len(plain.train)))
    monkeypatch.setattr("synaug.engine.data.load_dataset", lambda name, **kw: plain)
    monkeypatch.setattr("synaug.engine.workspace.Workspace.planned", lambda *a, **k: given)
    monkeypatch.setattr("synaug.audit.recipe.RecipeConfig", lambda: FAST)
    train = dict(steps=12, batch_size=16, warmup=0.2, stage2_steps=6, checkpoint_every=4, device="cpu",
                 synthetic_weighting="audit")
    cfg = resolve_config({"dataset": "mnist-lt", "methods": ["synaug-audit"], "train": train, "out": str(out)})
    results = runner.run_experiment(cfg, progress=False, log=lambda *a: None)
    summary = results["audit"]["True"]
    audit = Path(summary["audit"])
    assert audit.parent.parent == out  # the audit of a set that is not a planned folder: in OUT/synthetic/
    record = json.loads((audit / "recipe.json").read_text())
    assert summary["synthetic_used"] == len(record["files"]) < len(synthetic)
    run_config = (out / "runs" / "synaug-audit" / "seed0" / "config.yaml").read_text()
    assert f"synthetic_images: {len(record['files'])}" in run_config
    assert f"audit: {audit}" in run_config  # weighting by its own audit
    assert "Audit of the synthetic images" in (out / "report.html").read_text()


def test_weighting_without_an_audit_fails_before_training_for_methods_without_their_own():
    train = {"synthetic_weighting": "audit"}
    with pytest.raises(ConfigError, match="synaug"):
        resolve_config({"dataset": "mnist-lt", "methods": ["ce", "synaug"], "train": train})
    resolve_config({"dataset": "mnist-lt", "methods": ["ce", "synaug-audit"], "train": train})
