"""MaxNorm of Weight Balancing against the reference's definition (ShadeAlsha/LTR-weight-balancing
MaxNorm_via_PGD, thresh 0.1, L2, tau 1), recomputed here row by row; the method `wb` wired into
the pipeline: its stage-1 weight decay, its stage 2 (whole training set, class-balanced loss,
weight decay 0.1, MaxNorm after every step) and resume."""

import numpy as np
import pytest
import torch
import yaml
from torch import nn

import synaug.training.loop as loop
from synaug.training import stage2
from synaug.training.methods import get_method
from synaug.training.pipeline import train_method
from synaug.training.weight_balancing import MaxNorm

from helpers import tiny_cfg, tiny_splits


def test_maxnorm_caps_rows_at_min_plus_a_tenth_of_the_range():
    torch.manual_seed(0)
    layer = nn.Linear(6, 5)
    with torch.no_grad():
        layer.weight.mul_(torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])[:, None])
    norms = [float(r.norm()) for r in layer.weight.detach()]
    cap = min(norms) + 0.1 * (max(norms) - min(norms))
    before = layer.weight.detach().clone()
    bias = layer.bias.detach().clone()
    pgd = MaxNorm(layer, thresh=0.1)
    assert abs(pgd.cap - cap) < 1e-6
    pgd.project()
    for row, old, n in zip(layer.weight.detach(), before, norms):
        if n > cap:  # scaled onto the cap, direction kept
            assert abs(float(row.norm()) - cap) < 1e-5 and torch.allclose(row / row.norm(), old / old.norm(), atol=1e-6)
        else:
            assert torch.equal(row, old)
    assert torch.equal(layer.bias, bias)


# ----------------------------------------------------------------------------- the wired method `wb`
def project_rows(w: np.ndarray, cap: float) -> np.ndarray:
    """The reference's PGD step in NumPy: rows with L2 norm above `cap` scaled onto it."""
    norms = np.linalg.norm(w, axis=1, keepdims=True)
    return np.where(norms > cap, w * (cap / norms), w)


def test_wb_stage2_projects_every_step_onto_the_stage1_cap(tmp_path, monkeypatch):
    calls = []
    original = MaxNorm.project

    def spy(self):
        before = self.layer.weight.detach().clone().numpy()
        original(self)
        calls.append((before, self.layer.weight.detach().clone().numpy(), self.cap))

    monkeypatch.setattr(MaxNorm, "project", spy)
    splits, _ = tiny_splits()
    run = tmp_path / "wb"
    trained = train_method(get_method("wb"), splits, tiny_cfg(), run, progress=False)
    stage1 = torch.load(run / "stage1.pt", weights_only=True)["model"]["classifier.weight"].numpy()
    norms1 = np.linalg.norm(stage1.astype(np.float64), axis=1)
    cap = norms1.min() + 0.1 * (norms1.max() - norms1.min())
    assert len(calls) == tiny_cfg().stage2_steps  # after every optimiser step of stage 2
    assert any(not np.array_equal(b, a) for b, a, _ in calls)  # the constraint was active
    for before, after, used_cap in calls:
        assert used_cap == pytest.approx(cap, rel=1e-6)
        assert np.allclose(after, project_rows(before, used_cap), atol=1e-7)
    final = trained.model.classifier.weight.detach().numpy()
    assert (np.linalg.norm(final, axis=1) <= cap * (1 + 1e-5)).all()
    saved = torch.load(run / "stage2.pt", weights_only=True)["model"]["classifier.weight"].numpy()
    assert np.array_equal(saved, final)  # the checkpoint holds the projected weights


def test_wb_stage1_weight_decay_is_the_override_and_stage2_is_the_references(tmp_path, monkeypatch):
    seen = {}
    original = stage2.fit

    def spy(model, data, phase, parts, config, callbacks=()):
        seen.update(n=len(data), phase=phase, loss=parts.loss_fn)
        return original(model, data, phase, parts, config, callbacks)

    monkeypatch.setattr(stage2, "fit", spy)
    splits, _ = tiny_splits()
    run = tmp_path / "wb"
    train_method(get_method("wb"), splits, tiny_cfg(weight_decay=5e-4), run, progress=False)
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["weight_decay"] == 5e-3
    opt1 = torch.load(run / "stage1.pt", weights_only=True)["optimizer"]["param_groups"][0]
    opt2 = torch.load(run / "stage2.pt", weights_only=True)["optimizer"]["param_groups"][0]
    assert opt1["weight_decay"] == 5e-3 and opt2["weight_decay"] == 0.1
    # stage 2: the whole imbalanced training set, class-balanced (effective number, beta 0.9999) CE
    counts = np.bincount(splits.train.labels).astype(np.float64)
    cb = (1 - 0.9999) / (1 - 0.9999 ** counts)
    assert seen["n"] == len(splits.train) and seen["phase"].schedule == "cosine"
    assert np.allclose(seen["loss"].weights.numpy(), cb / cb.sum() * len(counts), rtol=1e-5)
    assert seen["loss"].active  # weighted from the first step


def test_resumed_wb_run_equals_uninterrupted(tmp_path, monkeypatch):
    class Killed(Exception):
        pass

    splits, _ = tiny_splits()
    full = train_method(get_method("wb"), splits, tiny_cfg(), tmp_path / "full", progress=False)
    original = loop.save_checkpoint

    def save_then_die(path, model, opt, step, **extra):
        original(path, model, opt, step, **extra)
        if path.name == "stage2.pt" and step == 4:
            raise Killed

    monkeypatch.setattr(loop, "save_checkpoint", save_then_die)
    with pytest.raises(Killed):
        train_method(get_method("wb"), splits, tiny_cfg(), tmp_path / "part", progress=False)
    monkeypatch.setattr(loop, "save_checkpoint", original)
    resumed = train_method(get_method("wb"), splits, tiny_cfg(), tmp_path / "part", resume=True, progress=False)
    for (k, a), b in zip(full.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), k
