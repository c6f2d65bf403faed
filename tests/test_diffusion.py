"""The Stable Diffusion backend, offline, on a tiny randomly initialised pipeline."""

import csv
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("diffusers")

from synaug.data.imageset import ImageSet  # noqa: E402
from synaug.errors import GenerationError, MissingDependencyError  # noqa: E402
from synaug.generators import make_generator, run_generation  # noqa: E402
from synaug.generators.diffusion import DiffusionGenerator, redraw_seed  # noqa: E402
from synaug.plans import build_plan, write_plan  # noqa: E402
from synaug.prompts import load_bank  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from helpers import DiesAfter, folder_digest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model(tiny_sd):
    return tiny_sd  # tests/conftest.py: built once per session


def make(tiny_model, **kw):
    return DiffusionGenerator(**{"model": str(tiny_model), "steps": 2, "gen_size": 32, "image_shape": (16, 16, 3), **kw})


def plan(n=3):
    return build_plan({0: n, 1: n}, ["cat", "dog"], load_bank(None), seed=4)


digest = folder_digest


def rows(folder):
    return list(csv.DictReader((Path(folder) / "metadata.csv").read_text().splitlines()))


def test_plan_to_images_to_metadata(tiny_model, tmp_path):
    from synaug.api import generate

    items = plan(2)
    write_plan(items, tmp_path / "plan.csv", {"image_shape": [16, 16, 1]})
    report = generate(tmp_path / "plan.csv", tmp_path / "out", "diffusion", batch_size=3,
                      options={"model": str(tiny_model), "steps": 2, "gen_size": 32}, progress=False)
    assert report.generated == 4 and report.metadata_written
    meta = rows(tmp_path / "out")
    assert [r["file_name"] for r in meta] == [it.file_name for it in items]
    r = meta[0]
    assert r["generator"] == "diffusion" and r["model"] == str(tiny_model) and r["steps"] == "2"
    assert r["scheduler"] == "DDIMScheduler" and r["guidance"] == "7.5" and r["seed"] == str(items[0].seed)
    from PIL import Image
    img = Image.open(tmp_path / "out" / items[0].file_name)
    assert img.size == (16, 16) and img.mode == "L"  # saved at the plan's image shape


def test_same_seed_alone_and_in_a_batch(tiny_model):
    gen = make(tiny_model, image_shape=(32, 32, 3))
    items = plan(3)
    batch = gen.generate(items)
    alone = gen.generate([items[4]])[0]
    a = np.asarray(alone.image, dtype=float)
    b = np.asarray(batch[4].image, dtype=float)
    assert np.abs(a - b).max() <= 1.0  # ~1e-6 in floats, at most one uint8 step after rounding
    assert np.abs(np.asarray(batch[0].image, dtype=float) - b).max() > 1.0  # other seeds differ


def test_resume_after_a_kill(tiny_model, tmp_path):
    items = plan(3)
    run_generation(items, make(tiny_model), tmp_path / "full", batch_size=2, progress=False)
    with pytest.raises(RuntimeError):
        run_generation(items, DiesAfter(make(tiny_model), 1), tmp_path / "resumed", batch_size=2, progress=False)
    report = run_generation(items, make(tiny_model), tmp_path / "resumed", batch_size=2, progress=False)
    assert report.already_done == 2 and report.generated == 4
    assert digest(tmp_path / "resumed") == digest(tmp_path / "full")


def test_flagged_image_is_redrawn_with_a_recorded_derived_seed(tiny_model, tmp_path):
    gen = make(tiny_model)
    pipe = gen.pipeline()
    calls = []

    def flag_first_image_once(image, device, dtype):
        calls.append(len(image))
        return image, [len(calls) == 1 and i == 0 for i in range(len(image))]

    pipe.run_safety_checker = flag_first_image_once
    items = plan(2)
    run_generation(items, gen, tmp_path / "o", batch_size=4, progress=False)
    meta = {r["file_name"]: r for r in rows(tmp_path / "o")}
    first = meta[items[0].file_name]
    assert first["redraws"] == "1" and first["final_seed"] == str(redraw_seed(items[0].seed, 1))
    assert first["seed"] == str(items[0].seed)
    assert all(meta[it.file_name]["redraws"] == "0" for it in items[1:])
    # the kept image is the redraw: same as drawing the derived seed directly
    clean = make(tiny_model)
    redrawn = clean.generate([items[0].__class__(**{**items[0].__dict__, "seed": redraw_seed(items[0].seed, 1)})])
    from PIL import Image
    kept = np.asarray(Image.open(tmp_path / "o" / items[0].file_name), dtype=float)
    assert np.abs(kept - np.asarray(redrawn[0].image, dtype=float)).max() <= 1.0


def test_always_flagged_image_is_dropped_and_reported(tiny_model, tmp_path):
    gen = make(tiny_model, max_redraws=2)
    gen.pipeline().run_safety_checker = lambda image, device, dtype: (image, [True] + [False] * (len(image) - 1))
    items = plan(1)  # two items; the first of every call is flagged
    report = run_generation(items, gen, tmp_path / "o", batch_size=2, progress=False)
    assert len(report.dropped) == 1 and "safety checker 3 times" in report.dropped[0][1]
    assert report.metadata_written and len(rows(tmp_path / "o")) == 1
    assert not (tmp_path / "o" / items[0].file_name).exists()
    dropped = list(csv.DictReader((tmp_path / "o" / ".synaug" / "dropped.csv").read_text().splitlines()))
    assert dropped[0]["file_name"] == items[0].file_name
    again = run_generation(items, gen, tmp_path / "o", batch_size=2, progress=False)
    assert again.generated == 0 and again.already_done == 2  # not redrawn on re-runs


def test_out_of_memory_halves_the_batch_and_continues(tiny_model):
    gen = make(tiny_model)
    real_call = gen._call

    def oom_above_two(prompts, seeds, init_images):
        if len(prompts) > 2:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_call(prompts, seeds, init_images)

    gen._call = oom_above_two
    items = plan(3)
    out = gen.generate(items)
    assert len(out) == 6 and gen.max_batch == 2
    reference = make(tiny_model).generate(items)
    for a, b in zip(out, reference):
        assert np.abs(np.asarray(a.image, dtype=float) - np.asarray(b.image, dtype=float)).max() <= 1.0


def test_out_of_memory_retry_does_not_keep_the_failed_call_alive(tiny_model):
    """The retry runs after the exception is gone: its traceback would keep the failed call's frames,
    and on a GPU every activation they hold, while the smaller batch runs."""
    import weakref

    gen = make(tiny_model)
    real_call = gen._call
    failed, alive_at_retry = [], []

    class Activations:  # stands in for the tensors a failed UNet call leaves in its frames
        pass

    def oom_above_two(prompts, seeds, init_images):
        if len(prompts) > 2:
            held = Activations()
            failed.append(weakref.ref(held))
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        alive_at_retry.append(any(ref() is not None for ref in failed))
        return real_call(prompts, seeds, init_images)

    gen._call = oom_above_two
    assert len(gen.generate(plan(3))) == 6
    assert failed and alive_at_retry and not any(alive_at_retry)


def test_shards_union_equals_one_process(tiny_model, tmp_path, monkeypatch):
    from synaug.runtime import dist_of

    items = plan(3)
    run_generation(items, make(tiny_model), tmp_path / "one", batch_size=4, progress=False)
    for rank in (1, 0):  # as torchrun ranks would, in any order
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "2")
        run_generation(items, make(tiny_model), tmp_path / "two", batch_size=4, shard=(dist_of().rank, dist_of().world),
                       progress=False)
    assert digest(tmp_path / "two") == digest(tmp_path / "one")


def test_img2img_records_its_guidance_image(tiny_model, tmp_path):
    rng = np.random.default_rng(0)
    guide = ImageSet(rng.integers(0, 255, (6, 16, 16, 3), dtype=np.uint8), np.array([0, 0, 0, 1, 1, 1]), ["cat", "dog"])
    gen = make(tiny_model, img2img="intra", real=guide, strength=0.6)
    items = plan(2)
    run_generation(items, gen, tmp_path / "o", batch_size=4, progress=False)
    for r in rows(tmp_path / "o"):
        assert r["img2img"] == "intra" and r["strength"] == "0.6"
        assert r["guidance_label"] == r["label"]  # intra-class: guided by a real image of its own class
        assert guide.labels[int(r["guidance_index"])] == int(r["label"])
    inter = make(tiny_model, img2img="inter", real=guide).generate(items)
    assert {g.extra["guidance_label"] for g in inter} <= {0, 1}


def test_scheduler_swap_by_name_and_unknown_names(tiny_model):
    gen = make(tiny_model, scheduler="EulerDiscreteScheduler")
    out = gen.generate(plan(1)[:1])
    assert out[0].extra["scheduler"] == "EulerDiscreteScheduler"
    with pytest.raises(GenerationError, match="unknown scheduler"):
        make(tiny_model, scheduler="NoSuchScheduler").pipeline()


def test_missing_model_is_local_only_and_clear(tmp_path):
    with pytest.raises(GenerationError, match="local-only"):
        DiffusionGenerator(model=str(tmp_path / "nope")).pipeline()
    with pytest.raises(GenerationError, match="needs --generator-model"):
        DiffusionGenerator().pipeline()


def test_missing_extra_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "diffusers", None)  # import diffusers -> ImportError
    gen = make_generator("diffusion", model="some/model")
    with pytest.raises(MissingDependencyError, match=r"pip install 'synaug\[diffusion\]'"):
        gen.pipeline()
