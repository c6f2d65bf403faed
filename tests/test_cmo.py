"""CMO's sampling weights, paste and on/off window against the reference (naver-ai/cmo), recomputed
here; and CMO wired into the loop: the base samples' cells reach the loss, a resumed run repeats."""

import numpy as np
import pytest
import torch

import synaug.training.loop as loop
from synaug.engine.inference import evaluate_model
from synaug.training.cmo import cmo_paste, cmo_sample_weights
from synaug.training.distributed import Dist, local_slice
from synaug.training.loop import FitConfig, FitParts, Phase, TensorData, fit
from synaug.training.losses import Loss
from synaug.training.methods import get_method
from synaug.training.mixing import BATCH_TRANSFORMS
from synaug.training.models import build_model
from synaug.training.pipeline import train_method
from synaug.training.samplers import SAMPLERS

from helpers import tiny_cfg, tiny_splits


def test_minority_weights_are_inverse_class_frequency():
    labels = np.array([0] * 8 + [1] * 2)
    p = cmo_sample_weights(labels, [8, 2], alpha=1.0)
    # each class gets equal total mass: 8 * (1/8) = 2 * (1/2)
    assert np.isclose(p[labels == 0].sum(), 0.5) and np.isclose(p[labels == 1].sum(), 0.5)
    p2 = cmo_sample_weights(labels, [8, 2], alpha=2.0)
    assert np.isclose(p2[labels == 1].sum() / p2[labels == 0].sum(), (2 * 1 / 4) / (8 * 1 / 64))


def test_paste_mixes_labels_by_the_pasted_area():
    x = torch.zeros(4, 1, 10, 10)
    x_minor = torch.ones(4, 1, 10, 10)
    y = torch.eye(3)[[0, 0, 0, 0]]
    y_minor = torch.eye(3)[[2, 2, 2, 2]]
    rng = np.random.default_rng(3)
    for _ in range(20):
        out, soft = cmo_paste(x, y, x_minor, y_minor, rng, prob=1.0)
        area = float(out[0].mean())  # the share of pixels that came from the minority batch
        assert torch.allclose(soft[:, 2], torch.full((4,), area)) and torch.allclose(soft.sum(1), torch.ones(4))
        assert torch.equal(out[0], out[1])  # one box for the whole batch
    same, _ = cmo_paste(x, y, x_minor, y_minor, np.random.default_rng(0), prob=0.0)
    assert same is x


# ----------------------------------------------------------------------------- wired into the loop
def reference_sample_weights(targets, cls_num_list, alpha):
    """naver-ai/cmo imbalance_cifar.py get_weighted_sampler, then WeightedRandomSampler's normalisation."""
    cls_weight = 1.0 / (np.array(cls_num_list) ** alpha)
    cls_weight = cls_weight / np.sum(cls_weight) * len(cls_num_list)
    samples_weight = np.array([cls_weight[t] for t in targets])
    return samples_weight / samples_weight.sum()


def test_cmo_sampler_pairs_the_ordinary_batch_with_reference_weighted_draws():
    labels = np.array([0] * 50 + [1] * 10 + [2] * 3)
    counts = np.bincount(labels)
    s = SAMPLERS.create("cmo", dict(n=len(labels), labels=labels, class_counts=counts, batch_size=8, seed=4))
    assert np.allclose(s.p, reference_sample_weights(labels, counts, 1.0))
    shuffle = SAMPLERS["shuffle"](n=len(labels), batch_size=8, seed=4)
    for step in (0, 5, 17):  # the ordinary half is exactly what CE (shuffle) would train on
        assert np.array_equal(s.batch(step)[0::2], shuffle.batch(step))
    big = SAMPLERS.create("cmo", dict(n=len(labels), labels=labels, class_counts=counts, batch_size=30000, seed=0))
    minority = big.batch(0)[1::2]
    expected = np.bincount(labels, weights=reference_sample_weights(labels, counts, 1.0))
    assert np.allclose(np.bincount(labels[minority]) / len(minority), expected, atol=0.01)  # 1/3 each


def reference_cmo(x, y, x2, y2, rng, prob=0.5):
    """naver-ai/cmo cifar_train.py (train + rand_bbox) with its draws taken from `rng`."""
    if rng.random() >= prob:
        return x, y
    lam = rng.beta(1.0, 1.0)
    W, H = x.shape[2], x.shape[3]  # the reference's naming: W indexes dim 2
    cut_rat = np.sqrt(1.0 - lam)
    cut_w, cut_h = int(W * cut_rat), int(H * cut_rat)
    cx, cy = rng.integers(W), rng.integers(H)
    bbx1, bby1 = np.clip(cx - cut_w // 2, 0, W), np.clip(cy - cut_h // 2, 0, H)
    bbx2, bby2 = np.clip(cx + cut_w // 2, 0, W), np.clip(cy + cut_h // 2, 0, H)
    x = x.clone()
    x[:, :, bbx1:bbx2, bby1:bby2] = x2[:, :, bbx1:bbx2, bby1:bby2]
    lam = 1 - ((bbx2 - bbx1) * (bby2 - bby1) / (x.size()[-1] * x.size()[-2]))
    return x, y * lam + y2 * (1.0 - lam)  # criterion(out, y) * lam + criterion(out, y2) * (1 - lam)


def test_cmo_transform_pastes_the_minority_half_as_the_reference():
    torch.manual_seed(0)
    x = torch.rand(12, 3, 9, 9)   # interleaved (base, minority) pairs, as the cmo sampler draws them
    y = torch.eye(4)[torch.arange(12) % 4]
    t = BATCH_TRANSFORMS["cmo"]()
    t.set_progress(0.5)
    pasted = 0
    for seed in range(12):
        out, soft = t(x, y, torch.zeros(12, dtype=torch.bool), np.random.default_rng(seed))
        ref_x, ref_y = reference_cmo(x[0::2], y[0::2], x[1::2], y[1::2], np.random.default_rng(seed))
        assert out.shape == (6, 3, 9, 9) and torch.equal(out, ref_x) and torch.allclose(soft, ref_y)
        pasted += not torch.equal(out, x[0::2])
    assert 2 <= pasted <= 10  # probability 0.5 per batch


@pytest.mark.parametrize("fraction,on", [(0.0, False), (0.0149, False), (0.015, True), (0.5, True),
                                         (0.9849, True), (0.985, False), (0.999, False)])
def test_cmo_is_off_in_the_first_and_last_3_of_200_epochs(fraction, on):
    x = torch.rand(8, 1, 6, 6)
    y = torch.eye(2)[torch.arange(8) % 2]
    t = BATCH_TRANSFORMS.create("cmo", {}, prob=1.0)
    t.set_progress(fraction)
    out, soft = t(x, y, torch.zeros(8, dtype=torch.bool), np.random.default_rng(1))
    assert (not torch.equal(out, x[0::2])) == on
    if not on:
        assert torch.equal(soft, y[0::2])


def test_the_loop_switches_cmo_by_step_and_gives_the_loss_the_base_samples_cells():
    """Through `fit`: the transform sees step / steps; the loss gets B targets and the cells of the
    B ordinary (base) samples, not of the minority ones pasted onto them."""
    splits, _ = tiny_splits()
    data = TensorData.from_imageset(splits.train, torch.device("cpu"))
    cells = splits.train.cells()
    sampler = SAMPLERS.create("cmo", dict(n=len(cells), labels=splits.train.labels,
                                          class_counts=splits.train.class_counts(), batch_size=6, seed=2))
    seen = []

    class Record(Loss):
        def __call__(self, logits, targets, cells=None):
            seen.append((len(targets), cells.numpy().copy()))
            return logits.float().mean() * 0

    class Progress(BATCH_TRANSFORMS["cmo"]):
        def set_progress(self, fraction):
            seen.append(fraction)
            super().set_progress(fraction)

    model = build_model("small-cnn", in_channels=1, num_classes=3, image_size=12)
    parts = FitParts(model.parameters(), sampler, lambda x, gen: x.float() / 255, lambda x: x, Progress(), Record())
    fit(model, data, Phase("s", 5, 6, 0.01), parts, FitConfig(3, seed=0))
    for step in range(5):
        fraction, (n, got) = seen[2 * step], seen[2 * step + 1]
        assert fraction == step / 5 and n == 6
        assert np.array_equal(got, cells[sampler.batch(step)[0::2]])


def test_resumed_cmo_run_equals_uninterrupted(tmp_path, monkeypatch):
    class Killed(Exception):
        pass

    splits, _ = tiny_splits()
    method = get_method("ldam-drw-cmo")
    cfg = tiny_cfg(stage2_steps=0)
    full = train_method(method, splits, cfg, tmp_path / "full", progress=False)
    original = loop.save_checkpoint

    def save_then_die(path, model, opt, step, **extra):
        original(path, model, opt, step, **extra)
        if step == 8:
            raise Killed

    monkeypatch.setattr(loop, "save_checkpoint", save_then_die)
    with pytest.raises(Killed):
        train_method(method, splits, cfg, tmp_path / "part", progress=False)
    monkeypatch.setattr(loop, "save_checkpoint", original)
    resumed = train_method(method, splits, cfg, tmp_path / "part", resume=True, progress=False)
    for (k, a), b in zip(full.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), k
    ma = evaluate_model(full, splits.test, splits.train.class_counts())
    assert ma["predictions"] == evaluate_model(resumed, splits.test, splits.train.class_counts())["predictions"]


@pytest.mark.parametrize("world", [2, 4])
def test_rank_slices_of_a_cmo_batch_keep_their_pairs_and_make_up_the_whole_batch(world):
    """Under torchrun every rank takes a contiguous slice of the interleaved batch and draws the same
    box (the step's rng is the same on every rank): the ranks' outputs, concatenated, are the
    one-process output."""
    labels = np.array([0] * 20 + [1] * 5 + [2] * 2)
    s = SAMPLERS.create("cmo", dict(n=len(labels), labels=labels, class_counts=np.bincount(labels),
                                    batch_size=8, seed=1))
    idx = s.batch(3)
    images = torch.rand(len(labels), 1, 6, 6)
    y = torch.eye(3)[labels]
    t = BATCH_TRANSFORMS.create("cmo", {}, prob=1.0)
    t.set_progress(0.5)
    whole = t(images[idx], y[idx], None, np.random.default_rng(9))
    parts = [t(images[i], y[i], None, np.random.default_rng(9))
             for i in (local_slice(idx, Dist(rank=r, world=world)) for r in range(world))]
    assert torch.equal(torch.cat([p[0] for p in parts]), whole[0])
    assert torch.equal(torch.cat([p[1] for p in parts]), whole[1])
