"""Group datasets, readers, Group DRO, DFR and cell planning."""

import numpy as np
import pytest
import torch
from PIL import Image

from synaug.data import load_dataset
from synaug.data.group_readers import parse_utkface_name, read_utkface
from synaug.errors import DatasetError
from synaug.generators.render import RenderGenerator
from synaug.train.dfr import fit_dfr, group_balanced
from synaug.train.losses import LOSSES
from synaug.workflow import plan_for


def _img(path, value=100, size=(20, 20)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((*size, 3), value, dtype=np.uint8)).save(path)


# ----------------------------------------------------------------------------- readers
def test_utkface_strict_names_others_dropped_and_skips_reported(tmp_path):
    good = ["25_0_0_20170116174525125.jpg.chip.jpg", "30_1_1_20170109142408075.jpg",
            "41_1_2_20170116184028385.jpg.chip.jpg", "8_0_3_20170110122813145.jpg.chip.jpg",
            "60_0_4_20170117191413564.jpg.chip.jpg"]  # race 4 = Others: dropped, not an error
    bad = ["61_1_20170109142408075.jpg.chip.jpg",    # missing race
           "53_1_0 _20170116184028385.jpg.chip.jpg",  # stray space
           "39_1_0_20170116174525125jpg.chip.jpg"]    # missing dot
    for i, name in enumerate(good + bad):
        _img(tmp_path / name, 10 * i)
    assert parse_utkface_name(good[0]) == {"age": 25, "gender": 0, "race": 0}
    ds = read_utkface(tmp_path, size=16)
    assert ds.class_names == ["male", "female"] and ds.group_names == ["White", "Black", "Asian", "Indian"]
    assert len(ds) == 4 and sorted(zip(ds.labels.tolist(), ds.groups.tolist())) == [(0, 0), (0, 3), (1, 1), (1, 2)]
    assert sorted(p.rsplit("/", 1)[-1] for p, _ in ds.skipped) == sorted(bad)
    assert all("malformed" in reason for _, reason in ds.skipped)
    assert ds.images[0].shape == (16, 16, 3)
    swapped = read_utkface(tmp_path, target="race", group="gender", drop_races=())
    assert len(swapped.class_names) == 5 and swapped.group_names == ["male", "female"]
    with pytest.raises(DatasetError, match="target must be"):
        read_utkface(tmp_path, target="age")


def test_waterbirds_metadata_groups_and_splits(tmp_path):
    rows = ["img_id,img_filename,y,split,place,place_filename"]
    spec = [(0, 0, 0), (0, 0, 1), (1, 0, 0), (1, 0, 1), (0, 1, 1), (1, 1, 0), (1, 2, 1), (0, 2, 0)]
    for i, (y, split, place) in enumerate(spec):
        name = f"{i:03d}.Bird/img_{i}.jpg"
        _img(tmp_path / name, 20 * i)
        rows.append(f"{i},{name},{y},{split},{place},/x/{i}.jpg")
    (tmp_path / "metadata.csv").write_text("\n".join(rows) + "\n")
    s = load_dataset(f"waterbirds:{tmp_path}", size=8)
    assert (len(s.train), len(s.val), len(s.test)) == (4, 2, 2)
    expected = [2 * y + p for y, split, p in spec if split == 0]
    assert s.train.cells().tolist() == expected  # Waterbirds' group = 2 * y + place
    assert s.train.class_names == ["landbird", "waterbird"] and s.train.group_names == ["land", "water"]
    assert s.test.images[0].shape == (8, 8, 3)


def test_celeba_attributes_and_partition(tmp_path):
    files = [f"{i:06d}.jpg" for i in range(1, 7)]
    attrs = ["5_o_Clock_Shadow", "Blond_Hair", "Male"]
    values = [(1, 1, -1), (-1, -1, 1), (1, 1, 1), (-1, -1, -1), (1, 1, -1), (-1, 1, 1)]
    lines = [str(len(files)), " ".join(attrs)] + [f"{f}  " + " ".join(f"{v:2d}" for v in vals)
                                                   for f, vals in zip(files, values)]
    (tmp_path / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "list_eval_partition.txt").write_text("\n".join(f"{f} {p}" for f, p in zip(files, [0, 0, 0, 1, 2, 2])) + "\n")
    for f in files:
        _img(tmp_path / "img_align_celeba" / f)
    s = load_dataset(f"celeba:{tmp_path}", size=8)
    assert s.train.labels.tolist() == [1, 0, 1] and s.train.groups.tolist() == [0, 1, 1]
    assert s.train.class_names == ["not Blond_Hair", "Blond_Hair"] and len(s.test) == 2
    with pytest.raises(DatasetError, match="unknown CelebA attribute 'Wavy_Hair'"):
        load_dataset(f"celeba:{tmp_path}", target="Wavy_Hair")


# ----------------------------------------------------------------------------- embedded stand-ins
def test_mnist_fair_cells_skewed_train_balanced_test():
    s = load_dataset("mnist-fair")
    assert s.train.cell_counts() == {(0, 0): 900, (0, 1): 300, (0, 2): 120, (0, 3): 40,
                                     (1, 0): 200, (1, 1): 500, (1, 2): 60, (1, 3): 160}
    assert set(s.test.cell_counts().values()) == {100} and set(s.val.cell_counts().values()) == {25}
    img, g = s.train.images, s.train.groups
    mean_rgb = [img[g == k].reshape(-1, 3).astype(float).mean(0) for k in range(4)]
    assert np.argmax(mean_rgb[0]) == 0 and np.argmax(mean_rgb[1]) == 1 and np.argmax(mean_rgb[2]) == 2  # r, g, b


def test_fashion_spurious_agreement_95_train_50_test():
    s = load_dataset("fashion-spurious")
    agree = lambda ds: np.mean(ds.labels == ds.groups)  # noqa: E731  (footwear-grass, bag-brick)
    assert agree(s.train) == pytest.approx(0.95, abs=0.001)
    for c in (0, 1):
        m = s.train.labels == c
        assert np.mean(s.train.groups[m] == c) == pytest.approx(0.95)
    assert agree(s.test) == 0.5 and agree(s.val) == 0.5
    assert s.test.image_shape == (28, 28, 1)


# ----------------------------------------------------------------------------- cells and rendering
def test_cell_planning_over_groups_and_classes_only():
    s = load_dataset("mnist-fair")
    items, meta = plan_for(s.train, dataset="mnist-fair")
    assert {r["final"] for r in meta["cells"]} == {900} and len(items) == 7200 - 2280
    assert {it.group_name for it in items} == {"red", "green", "blue", "yellow"}
    assert all(f"in {it.group_name} ink" in it.prompt for it in items)
    items_c, meta_c = plan_for(s.train, dataset="mnist-fair", use_groups=False)
    assert [r["add"] for r in meta_c["cells"]] == [0, 440] and all(it.group_name == "" for it in items_c)
    assert meta_c["generator_options"] == {"unspecified_groups": ["red", "green", "blue", "yellow"]}


def test_renderer_draws_the_requested_tint_and_background():
    s = load_dataset("mnist-fair")
    items, _ = plan_for(s.train, dataset="mnist-fair")
    gen = RenderGenerator(size=28, channels=3)
    for it in [next(i for i in items if i.group_name == g) for g in ("red", "green", "blue")]:
        rgb = np.asarray(gen.render(it), dtype=float).reshape(-1, 3).sum(0)
        assert np.argmax(rgb) == ["red", "green", "blue"].index(it.group_name)
    sp = load_dataset("fashion-spurious")
    items, _ = plan_for(sp.train, dataset="fashion-spurious")
    gen = RenderGenerator(size=28, channels=1)
    grass = [np.asarray(gen.render(i), dtype=float) for i in items if i.group_name == "grass"][:20]
    brick = [np.asarray(gen.render(i), dtype=float) for i in items if i.group_name == "brick"][:20]
    border = lambda im: np.concatenate([im[0], im[-1], im[:, 0], im[:, -1]])  # noqa: E731
    assert min(border(im).mean() for im in grass) > 20  # a textured background, not black
    assert np.mean([border(im).mean() for im in grass]) > np.mean([border(im).mean() for im in brick])
    classes_only = RenderGenerator(size=28, channels=3, unspecified_groups=["red", "blue"])
    it = plan_for(s.train, dataset="mnist-fair", use_groups=False)[0][0]
    out = classes_only.generate([it])[0]
    assert out.extra["drawn_group"] in ("red", "blue")


# ----------------------------------------------------------------------------- Group DRO
def test_group_dro_weights_move_toward_the_worst_group():
    loss_fn = LOSSES["group-dro"](num_cells=3, step_size=0.5)
    targets = torch.eye(2)[torch.tensor([0, 0, 1, 1, 0, 1])]
    cells = torch.tensor([0, 0, 1, 1, 2, 2])
    logits = torch.tensor([[3., 0], [3, 0], [0, -1], [1, 0], [1, 0], [0, 1]])  # cell 1 is wrong: high loss
    per = -(targets * torch.log_softmax(logits, 1)).sum(1)
    group_loss = torch.stack([per[cells == g].mean() for g in range(3)])
    q = torch.full((3,), 1 / 3) * torch.exp(0.5 * group_loss)
    q = q / q.sum()
    loss = loss_fn(logits, targets, cells)
    assert torch.allclose(loss_fn.q, q) and torch.allclose(loss, (q * group_loss).sum())
    for _ in range(5):
        loss_fn(logits, targets, cells)
    assert loss_fn.q.argmax() == 1 and loss_fn.q[1] > 0.8
    state = loss_fn.state_dict()
    fresh = LOSSES["group-dro"](num_cells=3)
    fresh.load_state_dict(state)
    assert torch.equal(fresh.q, loss_fn.q)


# ----------------------------------------------------------------------------- DFR
def test_dfr_group_balanced_subsets():
    rng = np.random.default_rng(0)
    groups = np.array([0] * 50 + [1] * 7 + [2] * 13 + [3] * 9)
    for _ in range(5):
        idx = group_balanced(groups, rng)
        assert np.bincount(groups[idx]).tolist() == [7, 7, 7, 7] and len(set(idx)) == 28


def test_dfr_folded_layer_equals_scaler_plus_averaged_logistic_regressions():
    from sklearn.preprocessing import StandardScaler

    from synaug.train.dfr import fit_linear

    rng = np.random.default_rng(1)
    n = 400
    y = rng.integers(0, 2, n)
    place = np.where(rng.random(n) < 0.5, y, 1 - y)
    x = np.c_[y + rng.normal(0, 1, n), 3 * place + rng.normal(0, 0.3, n), rng.normal(0, 1, (n, 3))] * 5 + 2
    g = 2 * y + place
    x_train = x + rng.normal(0, 0.1, x.shape)
    info = fit_dfr(x_train, x, y, g, num_classes=2, seed=3, n_refits=5)
    assert info["C"] in (1.0, 0.7, 0.3, 0.1, 0.07, 0.03, 0.01) and len(info["scores"]) == 7
    assert info["weight"].shape == (2, 5) and np.allclose(info["weight"][0], 0)
    # replay the same draws: StandardScaler on train embeddings, 5 refits on balanced val subsets
    rng2 = np.random.default_rng([3, 9])
    from synaug.train.dfr import tune_c
    c, _ = tune_c(x, y, g, rng2)
    scaler = StandardScaler().fit(x_train)
    coefs, bs = zip(*[fit_linear(c, scaler.transform(x[s]), y[s]) for s in (group_balanced(g, rng2) for _ in range(5))])
    scores = scaler.transform(x) @ np.mean(coefs, 0).T + np.mean(bs, 0)
    folded = x @ info["weight"].T + info["bias"]
    assert np.allclose(folded[:, 1] - folded[:, 0], scores[:, 0])
