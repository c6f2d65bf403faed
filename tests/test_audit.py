"""The audit's measures against independent computations, and `synaug audit` end to end."""

import csv
import itertools
import json

import numpy as np
import pytest
from PIL import Image

from synaug.audit import metrics as M
from synaug.audit.core import AuditConfig, audit_cells
from synaug.data.imageset import ImageSet
from synaug.data.splits import carve_validation


# ----------------------------------------------------------------------------- validation split
def test_carve_validation_is_stratified_disjoint_and_seeded():
    strata = np.repeat([0, 1, 2, 3], [50, 10, 2, 1])
    train, val = carve_validation(strata, 0.2, seed=3)
    assert set(train).isdisjoint(val) and sorted(np.r_[train, val]) == list(range(len(strata)))
    assert [int((strata[val] == s).sum()) for s in range(4)] == [10, 2, 1, 0]  # a singleton stays in training
    again, val2 = carve_validation(strata, 0.2, seed=3)
    assert np.array_equal(val, val2) and np.array_equal(train, again)
    assert not np.array_equal(val, carve_validation(strata, 0.2, seed=4)[1])


# ----------------------------------------------------------------------------- k-NN precision / recall
def _covered(p, points, k):
    """Kynkaanniemi et al. 2019 written out with loops: a point is covered by a set if it lies within
    the distance from some member to that member's k-th nearest other member."""
    def radius(i):
        return sorted(np.linalg.norm(points[i] - points[j]) for j in range(len(points)) if j != i)[k - 1]

    return any(np.linalg.norm(p - points[i]) <= radius(i) for i in range(len(points)))


def _brute_force_pr(real, syn, k):
    return (np.mean([_covered(s, real, k) for s in syn]), np.mean([_covered(r, syn, k) for r in real]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_knn_precision_recall_matches_brute_force_on_2d_points(seed):
    rng = np.random.default_rng(seed)
    real = rng.normal(size=(25, 2))
    syn = np.r_[rng.normal(size=(15, 2)) * 0.5, rng.normal(size=(10, 2)) + [4, 0]]  # half off the manifold
    got = M.knn_precision_recall(real, syn, k=3)
    precision, recall = _brute_force_pr(real, syn, 3)
    assert got["precision"] == pytest.approx(precision) and got["recall"] == pytest.approx(recall)
    assert 0 < got["precision"] < 1 and 0 < got["recall"] < 1
    assert np.array_equal(got["ratio"] <= 1, [_covered(s, real, 3) for s in syn])


def test_knn_precision_recall_hand_case_and_small_sets():
    real = np.array([[0.0, 0], [1, 0], [0, 1], [1, 1]])  # k=1 radius of each corner: 1
    syn = np.array([[0.5, 0.5], [3.0, 3.0]])
    got = M.knn_precision_recall(real, syn, k=1)
    assert got["precision"] == 0.5
    assert got["ratio"][0] == pytest.approx(np.sqrt(0.5)) and got["ratio"][1] == pytest.approx(np.sqrt(8))
    # syn radii (k=1): both sqrt(12.5) -> every real corner is within it of (0.5, 0.5)
    assert got["recall"] == 1.0
    assert M.knn_precision_recall(real[:3], syn, k=3)["precision"] is None


def test_near_duplicates_hand_case():
    real = np.array([[0.0, 0], [10, 0], [0, 10]])  # nearest-neighbour distance 10 -> tau = 1
    syn = np.array([[5.0, 5], [5.5, 5], [10.2, 0], [30, 30]])
    got = M.near_duplicates(real, syn, factor=0.1)
    assert got["duplicate_rate"] == 0.5  # the first two are 0.5 apart
    assert got["copy_rate"] == 0.25  # (10.2, 0) copies a real point


def test_domain_gap_is_chance_for_one_distribution_and_one_for_separate_ones():
    rng = np.random.default_rng(0)
    same = M.domain_gap(rng.normal(size=(200, 4)), rng.normal(size=(200, 4)))
    apart = M.domain_gap(rng.normal(size=(200, 4)), rng.normal(size=(200, 4)) + 6)
    assert abs(same - 0.5) < 0.1 and apart == 1.0
    assert M.domain_gap(np.zeros((2, 4)), np.ones((50, 4))) is None


def test_recall_and_confusions():
    true = np.array([0, 0, 0, 0, 1, 1])
    pred = np.array([0, 1, 2, 2, 1, 1])
    assert M.recall_and_confusions(true, pred, 0) == (0.25, [(2, 0.5), (1, 0.25)])
    assert M.recall_and_confusions(true, pred, 5) == (None, [])


# ----------------------------------------------------------------------------- per-cell audit
def _points_set(points, labels, names=("a", "b")):
    """An ImageSet whose 'images' are the points themselves (1 x D x 1 uint8)."""
    pts = np.asarray(points, np.uint8)
    return ImageSet(pts[:, None, :, None], np.asarray(labels), list(names))


def _flat(ds):
    return np.asarray(ds.images, np.float64).reshape(len(ds), -1)


def _cluster(rng, centre, n):
    return np.clip(np.asarray(centre) + rng.normal(0, 4, size=(n, 2)), 0, 255)


def test_label_fidelity_and_transfer_on_a_hand_made_case():
    rng = np.random.default_rng(0)
    real = _points_set(np.r_[_cluster(rng, (40, 40), 30), _cluster(rng, (200, 200), 30)], [0] * 30 + [1] * 30)
    # cell a: 8 good images and 2 that look like b; cell b: all good
    syn = _points_set(np.r_[_cluster(rng, (40, 40), 8), _cluster(rng, (200, 200), 2), _cluster(rng, (200, 200), 10)],
                      [0] * 10 + [1] * 10)
    res = audit_cells(real, syn, _flat, AuditConfig(k=3))
    a, b = res["cells"]
    assert a["fidelity"] == 0.8 and b["fidelity"] == 1.0
    assert a["assigned_to"] == [dict(cell=1, name="b", share=0.2)]
    assert a["transfer"] == 1.0 and b["transfer"] == 1.0 and a["real_val"] == 6
    worst = sorted(res["images"][:10], key=lambda im: im["own_prob"])[:2]
    assert {im["index"] for im in worst} == {8, 9} and all(im["assigned"] == 1 for im in worst)
    assert a["precision"] == pytest.approx(0.8, abs=0.11) and b["precision"] > 0.8
    assert b["gap"] < 0.8 and a["score"] == a["transfer"]


def test_transfer_names_the_cells_a_swapped_label_is_mistaken_for():
    rng = np.random.default_rng(1)
    real = _points_set(np.r_[_cluster(rng, (40, 40), 30), _cluster(rng, (200, 200), 30)], [0] * 30 + [1] * 30)
    syn = _points_set(np.r_[_cluster(rng, (200, 200), 10), _cluster(rng, (40, 40), 10)], [0] * 10 + [1] * 10)
    a, b = audit_cells(real, syn, _flat, AuditConfig(k=3))["cells"]
    assert a["transfer"] == 0.0 and a["confused_with"] == [dict(cell=1, name="b", share=1.0)]
    assert a["fidelity"] == 0.0 and b["fidelity"] == 0.0 and a["gap"] == 1.0


def test_a_cell_without_synthetic_images_has_no_scores():
    rng = np.random.default_rng(2)
    names = ("a", "b", "c")
    real = _points_set(np.r_[_cluster(rng, (40, 40), 20), _cluster(rng, (200, 200), 20), _cluster(rng, (40, 200), 20)],
                       [0] * 20 + [1] * 20 + [2] * 20, names)
    syn = _points_set(np.r_[_cluster(rng, (40, 40), 10), _cluster(rng, (200, 200), 10)], [0] * 10 + [1] * 10, names)
    c = audit_cells(real, syn, _flat, AuditConfig(k=3))["cells"][2]
    assert c["synthetic"] == 0 and all(c[k] is None for k in ("transfer", "fidelity", "gap", "precision", "score"))


# ----------------------------------------------------------------------------- CLI end to end
def _write_set(root, rows, seed):
    """PNGs of 3 'classes' (dark, mid, bright 8x8 squares with noise) + rows for metadata.csv."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    out = []
    for i, (label, split) in enumerate(rows):
        level = (40, 120, 200)[label]
        img = np.clip(level + rng.normal(0, 12, (8, 8)), 0, 255).astype(np.uint8)
        name = f"{split}_{i}.png"
        Image.fromarray(img, "L").save(root / name)
        out.append(dict(file_name=name, label=label, class_name="abc"[label], split=split))
    return out


def _csv(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


@pytest.fixture
def tiny_audit_inputs(tmp_path):
    real_rows = _write_set(tmp_path / "real", [(c, "train") for c, n in ((0, 40), (1, 15), (2, 8)) for _ in range(n)]
                           + [(c, "test") for c in range(3) for _ in range(4)], 0)
    _csv(tmp_path / "real" / "metadata.csv", real_rows)
    syn_rows = _write_set(tmp_path / "syn", [(c, "s") for c in (1, 2) for _ in range(12)], 1)
    for r in syn_rows:
        r["synthetic"] = 1
    _csv(tmp_path / "syn" / "metadata.csv", syn_rows)
    return f"csv:{tmp_path / 'real' / 'metadata.csv'}", tmp_path / "syn"


def test_audit_cli_end_to_end(tiny_audit_inputs, tmp_path, capsys):
    from synaug.cli import main

    dataset, syn = tiny_audit_inputs
    out = tmp_path / "audit"
    assert main(["audit", "--dataset", dataset, "--synthetic", str(syn), "--out", str(out), "--feature-steps", "3",
                 "--quiet", "--examples", "2"]) == 0
    printed = capsys.readouterr().out
    assert "audit.html" in printed and "fidel" in printed
    report = json.loads((out / "audit.json").read_text())
    assert [c["name"] for c in report["cells"]] == ["a", "b", "c"]
    assert report["cells"][0]["synthetic"] == 0 and report["cells"][0]["score"] is None
    assert report["cells"][1]["synthetic"] == 12 and report["cells"][1]["fidelity"] is not None
    assert report["split"]["val"] == 8 + 3 + 2  # 20 % of 40, 15, 8 real training images; test never read
    with open(out / "images.csv") as f:
        images = list(csv.DictReader(f))
    assert len(images) == 24 and images[0]["file_name"] == "s_0.png"
    assert (out / "audit.csv").read_text().startswith("cell,key,name,real")
    html = (out / "audit.html").read_text()
    assert html.count("data:image/png;base64") == 1 + 3  # bars + one example strip per cell
    # the audit's image table drives the filter on the same folder
    assert main(["filter", "--synthetic", str(syn), "--audit", str(out), "--dry-run"]) == 0
    assert "kept" in capsys.readouterr().out


@pytest.mark.parametrize("extra, message", [
    (["--val-fraction", "1.5"], "val_fraction"),
    (["--pretrained", "/no/such.pth"], "no such file"),
])
def test_audit_cli_errors_exit_2(tiny_audit_inputs, tmp_path, capsys, extra, message):
    from synaug.cli import main

    dataset, syn = tiny_audit_inputs
    assert main(["audit", "--dataset", dataset, "--synthetic", str(syn), "--out", str(tmp_path / "o")] + extra) == 2
    assert message in capsys.readouterr().err


def test_audit_cli_without_metadata_exits_2(tiny_audit_inputs, tmp_path, capsys):
    from synaug.cli import main

    dataset, _ = tiny_audit_inputs
    (tmp_path / "empty").mkdir()
    assert main(["audit", "--dataset", dataset, "--synthetic", str(tmp_path / "empty"),
                 "--out", str(tmp_path / "o")]) == 2
    assert "metadata.csv" in capsys.readouterr().err


def test_audit_cli_with_a_pretrained_backbone(tiny_audit_inputs, tmp_path):
    import torch

    from synaug.cli import main
    from synaug.training.models import build_model

    dataset, syn = tiny_audit_inputs
    torch.manual_seed(0)
    ckpt = tmp_path / "backbone.pth"
    torch.save(build_model("small-cnn", in_channels=1, num_classes=7).features.state_dict(), ckpt)
    out = tmp_path / "audit"
    assert main(["audit", "--dataset", dataset, "--synthetic", str(syn), "--out", str(out), "--pretrained", str(ckpt),
                 "--model", "small-cnn", "--quiet", "--examples", "1"]) == 0
    report = json.loads((out / "audit.json").read_text())
    assert report["features"].startswith("pretrained") and not (out / "feature-net").exists()
    assert report["cells"][2]["fidelity"] is not None


def test_group_cells_are_audited_and_keyed_as_the_plan_keys_them():
    rng = np.random.default_rng(3)
    pts = np.r_[_cluster(rng, (40, 40), 20), _cluster(rng, (40, 200), 20), _cluster(rng, (200, 40), 20),
                _cluster(rng, (200, 200), 20)]
    labels, groups = np.repeat([0, 0, 1, 1], 20), np.repeat([0, 1, 0, 1], 20)
    real = ImageSet(np.asarray(pts, np.uint8)[:, None, :, None], labels, ["a", "b"], groups=groups,
                    group_names=["x", "y"])
    syn = real.subset(np.arange(80)[::4])  # 5 per cell, exactly real images
    rows = audit_cells(real, syn, _flat, AuditConfig(k=3))["cells"]
    assert [r["key"] for r in rows] == ["0:0", "0:1", "1:0", "1:1"] and rows[3]["name"] == "b / y"
    assert all(r["fidelity"] == 1.0 and r["transfer"] == 1.0 and r["copy_rate"] == 1.0 for r in rows)


def test_chunked_distances_match_the_full_matrix(monkeypatch):
    rng = np.random.default_rng(5)
    real, syn = rng.normal(size=(23, 3)), rng.normal(size=(17, 3))
    full = M.knn_precision_recall(real, syn, k=3), M.near_duplicates(real, syn, 0.5)
    monkeypatch.setattr(M, "CHUNK", 4)
    chunked = M.knn_precision_recall(real, syn, k=3), M.near_duplicates(real, syn, 0.5)
    assert np.allclose(full[0]["ratio"], chunked[0]["ratio"]) and full[1] == chunked[1]
    assert full[0]["recall"] == chunked[0]["recall"]
