"""The `ddpm` generator (issue 22): fitting a tiny class-conditional denoiser on CPU, resuming a fit
killed with SIGKILL, seeded batch-independent sampling, the pool/test overlap check, CBDM's
regulariser against its formula, and the backend pushed through the runner."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("diffusers")

import synaug  # noqa: E402
from synaug.errors import ConfigError, DatasetError, GenerationError  # noqa: E402
from synaug.generators import make_generator, run_generation  # noqa: E402
from synaug.generators.ddpm_fit import FitSettings, fit_generator, make_scheduler  # noqa: E402
from synaug.generators.ddpm_folder import check_disjoint  # noqa: E402
from synaug.generators.ddpm_loss import draw_batch, pool_tensors, step_loss  # noqa: E402
from synaug.generators.ddpm import SCHEDULER_NAMES  # noqa: E402
from synaug.generators.ddpm_sample import SCHEDULERS, DdpmSampler  # noqa: E402
from synaug.plans import build_plan  # noqa: E402
from synaug.prompts import load_bank  # noqa: E402
from synaug.training.loop import step_generators  # noqa: E402

from helpers import DiesAfter, folder_digest, tiny_splits  # noqa: E402

TINY = dict(arch_options={"channels": [8, 16], "emb_dim": 32}, batch_size=16, lr=3e-3, warmup_steps=5,
            log_every=10, checkpoint_every=20)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny networks run fastest on one thread, and a machine shared with other work does not stall
    them in OpenMP waits (the killed subprocess below runs on one thread too: bit-equal results)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_pool(groups=False):
    splits, _ = tiny_splits(n_per_class=(30, 12, 4), size=12)
    return splits, (splits.train if groups else splits.train.without_groups())


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A tiny class-conditional model (classes a, b, c of 12 px images), fitted once for the module."""
    out = tmp_path_factory.mktemp("gen") / "GEN"
    _, pool = tiny_pool()
    report = fit_generator(pool, out, FitSettings(steps=120, seed=1, **TINY), progress=False)
    return out, pool, report


def log_rows(folder):
    return [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]


def test_loss_falls_and_generator_json_records_the_fit(fitted):
    out, pool, report = fitted
    rows = log_rows(out)
    assert [r["step"] for r in rows] == list(range(10, 121, 10)) and report["steps_run"] == 120
    assert rows[-1]["loss"] < 0.5 * rows[0]["loss"]  # noise prediction learnt, not just run
    assert report["final_loss"] == rows[-1]["loss"]
    info = json.loads((out / "generator.json").read_text())
    assert info["class_names"] == ["a", "b", "c"] and info["group_names"] is None and info["null_label"] == 3
    assert info["pool"]["cell_counts"] == [30, 12, 4] and info["image_shape"] == [12, 12, 1]
    assert info["architecture"]["num_embeds"] == 4 and info["steps"] == 120 and info["seed"] == 1
    assert info["schedule"]["prediction_type"] == "epsilon" and info["synaug_version"] == synaug.__version__


def test_a_finished_fit_is_not_run_again_and_other_settings_are_refused(fitted):
    out, pool, _ = fitted
    before = folder_digest(out)
    again = fit_generator(pool, out, FitSettings(steps=120, seed=1, **TINY), progress=False)
    assert again["steps_run"] == 0 and folder_digest(out) == before
    with pytest.raises(GenerationError, match="other training"):
        fit_generator(pool, out, FitSettings(steps=120, seed=2, **TINY), progress=False)
    with pytest.raises(GenerationError, match="pool"):
        fit_generator(pool.subset(np.arange(20)), out, FitSettings(steps=120, seed=1, **TINY), progress=False)
    with pytest.raises(ConfigError):
        FitSettings(steps=0).check()


KILLED_FIT = """
import sys
sys.path.insert(0, {tests!r})
from helpers import tiny_splits
from synaug.generators.ddpm_fit import FitSettings, fit_generator
splits, _ = tiny_splits(n_per_class=(30, 12, 4), size=12)
fit_generator(splits.train.without_groups(), {out!r}, FitSettings(**{settings!r}), progress=False)
"""


def settings_for_kill(**kw):
    return dict(TINY, **{"steps": 200, "seed": 5, "cbdm_weight": 0.5, "checkpoint_every": 50, **kw})


def logged_steps(folder) -> list[int]:
    path = folder / "log.jsonl"
    return [json.loads(line)["step"] for line in path.read_text().splitlines()] if path.is_file() else []


def test_fit_killed_with_sigkill_resumes_to_the_uninterrupted_result(tmp_path):
    """Killed after its step-50 checkpoint and its step-60 log line: the resume drops the line written
    after the checkpoint and ends equal (weights, EMA, optimiser, log) to a fit never stopped."""
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    code = KILLED_FIT.format(tests=str(Path(__file__).parent), out=str(killed), settings=settings_for_kill())
    env = {**os.environ, "PYTHONPATH": str(Path(synaug.__file__).parents[1]), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    try:
        deadline = time.monotonic() + 60
        while 60 not in logged_steps(killed) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    step_at_kill = torch.load(killed / "checkpoint.pt", weights_only=True)["step"]
    assert step_at_kill == 50 and max(logged_steps(killed)) > 50  # a line the resume must drop

    _, pool = tiny_pool()
    resumed = fit_generator(pool, killed, FitSettings(**settings_for_kill()), progress=False)
    fit_generator(pool, whole, FitSettings(**settings_for_kill(checkpoint_every=1000)), progress=False)
    assert resumed["steps_run"] == 200 - step_at_kill
    a, b = (torch.load(d / "checkpoint.pt", weights_only=True) for d in (killed, whole))
    for part in ("model", "ema"):
        assert a[part].keys() == b[part].keys()
        assert all(torch.equal(a[part][k], b[part][k]) for k in a[part])
    assert a["optimizer"]["state"].keys() == b["optimizer"]["state"].keys()
    assert all(torch.equal(a["optimizer"]["state"][k]["exp_avg_sq"], b["optimizer"]["state"][k]["exp_avg_sq"])
               for k in a["optimizer"]["state"])
    assert (killed / "log.jsonl").read_text() == (whole / "log.jsonl").read_text()
    assert logged_steps(whole) == list(range(10, 201, 10))
    assert all("loss_cbdm" in r and r["loss_cbdm"] > 0 for r in log_rows(whole))


def test_sampling_is_seeded_per_image_and_independent_of_the_batch(fitted):
    sampler = DdpmSampler(fitted[0])
    labels, seeds = [0, 1, 2, 0, 2], [11, 12, 13, 14, 15]
    batch = sampler.sample_float(labels, seeds, steps=8, guidance=2.0)
    alone = torch.cat([sampler.sample_float([y], [s], steps=8, guidance=2.0) for y, s in zip(labels, seeds)])
    shuffled = sampler.sample_float(labels[::-1], seeds[::-1], steps=8, guidance=2.0).flip(0)
    assert (batch - alone).abs().max() < 1e-5 and (batch - shuffled).abs().max() < 1e-5
    as_uint8 = sampler.sample(labels, seeds, steps=8, guidance=2.0)
    assert np.array_equal(as_uint8, np.concatenate([sampler.sample([y], [s], steps=8, guidance=2.0)
                                                   for y, s in zip(labels, seeds)]))
    again = sampler.sample(labels, seeds, steps=8, guidance=2.0)
    assert np.array_equal(again, as_uint8)
    assert not np.array_equal(sampler.sample([0], [99], steps=8), sampler.sample([0], [11], steps=8))
    dpm = sampler.sample(labels[:2], seeds[:2], steps=8, scheduler="dpm-solver")
    assert np.array_equal(dpm, np.concatenate([sampler.sample([y], [s], steps=8, scheduler="dpm-solver")
                                              for y, s in zip(labels[:2], seeds[:2])]))


def test_a_pool_sharing_an_image_with_the_test_split_is_refused(tmp_path):
    splits, pool = tiny_pool()
    test = splits.test.without_groups()
    check_disjoint(pool, test)  # disjoint: no error
    leaky = pool.concat(test.subset([7]))
    with pytest.raises(DatasetError, match="shares 1 image"):
        check_disjoint(leaky, test)
    with pytest.raises(DatasetError, match="test split"):
        fit_generator(leaky, tmp_path / "GEN", FitSettings(steps=5, **TINY), test=test, progress=False)
    assert not (tmp_path / "GEN").exists()  # refused before anything was written


def test_cbdm_term_is_the_papers_formula_on_a_label_only_model():
    """With eps(x, t, y) = c_y (a constant per label), CBDM's term is 1.25 * mean(w_t * (c_y - c_y')^2),
    w_t = tau * t / T for kept labels and 0 for dropped ones, over the same draws."""
    codes = torch.tensor([0.0, 1.0, 3.0, -2.0])

    class LabelOnly(torch.nn.Module):
        def forward(self, x, t, labels):
            return codes[labels][:, None, None, None].expand_as(x)

    _, pool = tiny_pool()
    data = pool_tensors(pool.images, pool.cells(), 3, "cpu")
    sched = make_scheduler(FitSettings())
    total, mse, cbdm = step_loss(LabelOnly(), sched, data, 64, *step_generators(4, 9), label_dropout=0.3,
                                 cbdm_weight=0.7)
    rng, gen = step_generators(4, 9)
    x0, noise, t, labels, kept = draw_batch(data, 64, rng, gen, 1000, 0.3)
    others = torch.multinomial(data.label_freq, 64, replacement=True, generator=gen)
    w = 0.7 * t.float() / 1000 * kept.float()
    expected = 1.25 * (w * (codes[labels] - codes[others]) ** 2).mean()
    assert torch.allclose(cbdm, expected, rtol=1e-5) and float(cbdm) > 0
    assert torch.allclose(total, mse + cbdm)
    assert 0 < int((~kept).sum()) < 64  # some labels dropped, so the mask is exercised


def plan_for_tiny(n_per_class=3, seed=0):
    bank = load_bank("mnist-lt")
    return build_plan({c: n_per_class for c in range(3)}, ["a", "b", "c"], bank, seed)


def test_backend_through_the_runner_writes_resumes_and_records_extras(fitted, tmp_path):
    out, _, _ = fitted
    items = plan_for_tiny()
    make = lambda **kw: make_generator("ddpm", model=str(out), steps=6, guidance=1.5, batch=4, **kw)  # noqa: E731
    report = run_generation(items, make(), tmp_path / "a", batch_size=5, progress=False)
    assert report.generated == 9 and report.metadata_written
    with open(tmp_path / "a" / "metadata.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["file_name"] for r in rows] == [it.file_name for it in items]
    digest = make().describe()["checkpoint_sha256"]
    assert all(r["steps"] == "6" and r["guidance"] == "1.5" and r["scheduler"] == "ddim" and r["model"] == str(out)
               and r["checkpoint_sha256"] == digest for r in rows)
    again = run_generation(items, make(), tmp_path / "a", batch_size=5, progress=False)
    assert again.generated == 0 and again.already_done == 9
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_generation(items, DiesAfter(make(), 1), tmp_path / "b", batch_size=2, progress=False)
    run_generation(items, make(), tmp_path / "b", batch_size=3, progress=False)
    assert folder_digest(tmp_path / "a") == folder_digest(tmp_path / "b")


def test_backend_resizes_to_the_dataset_shape_and_maps_classes_by_name(fitted, tmp_path):
    from PIL import Image

    out, _, _ = fitted
    items = build_plan({0: 2}, ["c", "x"], load_bank("mnist-lt"), 0)  # dataset label 0 is the model's class "c"
    gen = make_generator("ddpm", {"class_names": ["c", "x"], "image_shape": (16, 16, 3)}, model=str(out), steps=4)
    run_generation(items, gen, tmp_path / "r", progress=False)
    image = Image.open(tmp_path / "r" / items[0].file_name)
    assert image.size == (16, 16) and image.mode == "RGB"
    model_c = DdpmSampler(out).sample([2], [items[0].seed], steps=4, guidance=2.0)[0, :, :, 0]
    resized = np.asarray(Image.fromarray(model_c, "L").resize((16, 16), Image.BICUBIC).convert("RGB"))
    assert np.array_equal(np.asarray(image), resized)


def test_cannot_draw_says_why_and_the_runner_stops(fitted, tmp_path):
    out, _, _ = fitted
    gen = make_generator("ddpm", {"class_names": ["a", "b", "zebra"]}, model=str(out))
    zebra = build_plan({2: 1}, ["a", "b", "zebra"], load_bank("mnist-lt"), 0)
    assert "not trained on 'zebra'" in gen.cannot_draw(zebra[0])
    with pytest.raises(GenerationError, match="zebra"):
        run_generation(zebra, gen, tmp_path / "z", progress=False)
    grouped = build_plan({(0, 1): 1}, ["a", "b", "c"], load_bank("mnist-lt"), 0, group_names=["dim", "bright"])
    assert "classes only" in make_generator("ddpm", model=str(out)).cannot_draw(grouped[0])
    with pytest.raises(GenerationError, match="not a fitted ddpm generator"):
        make_generator("ddpm", model=str(tmp_path)).cannot_draw(zebra[0])
    with pytest.raises(ConfigError, match="scheduler"):
        make_generator("ddpm", model=str(out), scheduler="euler")
    assert set(SCHEDULER_NAMES) == set(SCHEDULERS)  # the torch-free list names every sampler


def test_cell_conditional_model_draws_cells_and_refuses_empty_ones(tmp_path):
    splits, pool = tiny_pool(groups=True)
    keep = ~((pool.labels == 2) & (pool.groups == 1))  # no "c / bright" image in the pool
    fit_generator(pool.subset(np.flatnonzero(keep)), tmp_path / "G", FitSettings(steps=10, **TINY), progress=False)
    info = json.loads((tmp_path / "G" / "generator.json").read_text())
    assert info["group_names"] == ["dim", "bright"] and info["null_label"] == 6 and info["pool"]["cell_counts"][5] == 0
    items = build_plan({(0, 1): 1, (2, 0): 1, (2, 1): 1}, ["a", "b", "c"], load_bank("mnist-lt"), 0,
                       group_names=["dim", "bright"])
    gen = make_generator("ddpm", model=str(tmp_path / "G"), steps=3)
    reasons = [gen.cannot_draw(it) for it in items]
    assert reasons[0] is None and reasons[1] is None and "no image of 'c / bright'" in reasons[2]
    report = run_generation(items, gen, tmp_path / "out", skip_undrawable=True, progress=False)
    assert report.generated == 2 and len(report.skipped) == 1


def test_registering_the_backend_loads_neither_torch_nor_diffusers():
    code = "import sys, synaug.generators; print('torch' in sys.modules, 'diffusers' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(Path(synaug.__file__).parents[1])}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
