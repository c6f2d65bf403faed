import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from synaug.errors import GenerationError
from synaug.generators import make_generator, run_generation
from synaug.generators.render import RenderGenerator
from synaug.plans import PlanItem, build_plan, write_plan
from synaug.prompts import load_bank

from helpers import DiesAfter, folder_digest

FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def digit_plan(n_per_class=12, seed=0):
    return build_plan({c: n_per_class for c in range(10)}, [str(i) for i in range(10)], load_bank("mnist-lt"), seed)


tree_digest = folder_digest


def test_render_is_deterministic_per_seed_and_varies_with_it():
    gen = RenderGenerator(image_shape=(28, 28, 1))
    item = digit_plan()[5]
    a, b = np.asarray(gen.render(item)), np.asarray(gen.render(item))
    assert a.shape == (28, 28) and a.dtype == np.uint8 and np.array_equal(a, b)
    other = PlanItem(**{**item.__dict__, "seed": item.seed + 1})
    assert not np.array_equal(a, np.asarray(gen.render(other)))
    assert a.max() > 200 and a[0].max() == 0  # light stroke on black, empty border as MNIST


def test_render_digit_centre_of_mass_and_emoji_fill():
    gen = RenderGenerator(image_shape=(28, 28, 1))
    img = np.asarray(gen.render(digit_plan()[3]), dtype=float)
    ys, xs = np.mgrid[0:28, 0:28]
    cy, cx = (img * ys).sum() / img.sum(), (img * xs).sum() / img.sum()
    assert abs(cy - 13.5) <= 1.0 and abs(cx - 13.5) <= 1.0
    items = build_plan({1: 2}, FASHION, load_bank("fashion-lt"), 0)
    trouser = np.asarray(gen.render(items[0]))
    assert (trouser > 30).mean() > 0.1


def test_render_rgb_size():
    gen = RenderGenerator(image_shape=(32, 32, 3))
    img = gen.render(digit_plan()[0])
    assert img.mode == "RGB" and img.size == (32, 32)


def test_generate_writes_images_and_metadata(tmp_path):
    items = digit_plan(3)
    report = run_generation(items, RenderGenerator(), tmp_path / "out", batch_size=7, progress=False)
    assert report.generated == 30 and report.metadata_written
    import csv
    rows = list(csv.DictReader((tmp_path / "out" / "metadata.csv").read_text().splitlines()))
    assert [r["file_name"] for r in rows] == [it.file_name for it in items]
    assert rows[0]["seed"] == str(items[0].seed) and rows[0]["prompt"] == items[0].prompt
    assert rows[0]["generator"] == "render" and rows[0]["synthetic"] == "1"
    assert Image.open(tmp_path / "out" / items[4].file_name).size == (28, 28)
    assert not list((tmp_path / "out").rglob("*.tmp"))
    # re-running does nothing and changes nothing
    before = tree_digest(tmp_path / "out")
    again = run_generation(items, RenderGenerator(), tmp_path / "out", progress=False)
    assert again.generated == 0 and again.already_done == 30 and tree_digest(tmp_path / "out") == before


def test_crash_then_resume_equals_uninterrupted(tmp_path):
    items = digit_plan(5)
    run_generation(items, RenderGenerator(), tmp_path / "full", batch_size=8, progress=False)
    with pytest.raises(RuntimeError):
        run_generation(items, DiesAfter(RenderGenerator(), 3), tmp_path / "resumed", batch_size=8, progress=False)
    assert not (tmp_path / "resumed" / "metadata.csv").exists()
    # a torn temp file and a torn journal line, as a kill during a write leaves them
    stray = tmp_path / "resumed" / "9" / ".9_000004.png.0of1.tmp"
    stray.parent.mkdir(exist_ok=True)
    stray.write_bytes(b"half")
    with open(tmp_path / "resumed" / ".synaug" / "journal-0of1.jsonl", "a") as f:
        f.write('{"file_name": "9/9_0000')
    report = run_generation(items, RenderGenerator(), tmp_path / "resumed", batch_size=8, progress=False)
    assert report.already_done == 24 and report.generated == 26
    assert tree_digest(tmp_path / "resumed") == tree_digest(tmp_path / "full")


def test_sigkill_then_resume_is_byte_identical(tmp_path):
    items = build_plan({c: 300 for c in range(10)}, [str(i) for i in range(10)], load_bank("mnist-lt"), 0)
    write_plan(items, tmp_path / "plan.csv", {"image_shape": [28, 28, 1]})
    cmd = [sys.executable, "-m", "synaug.cli", "generate", "--plan", str(tmp_path / "plan.csv"),
           "--batch-size", "16"]
    subprocess.run(cmd + ["--out", str(tmp_path / "full")], check=True, capture_output=True)
    proc = subprocess.Popen(cmd + ["--out", str(tmp_path / "killed")], stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and len(list((tmp_path / "killed").rglob("*.png"))) < 400:
        time.sleep(0.01)
    assert proc.poll() is None, "generation finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = len(list((tmp_path / "killed").rglob("*.png")))
    assert 400 <= partial < len(items) and not (tmp_path / "killed" / "metadata.csv").exists()
    subprocess.run(cmd + ["--out", str(tmp_path / "killed")], check=True, capture_output=True)
    assert tree_digest(tmp_path / "killed") == tree_digest(tmp_path / "full")


def test_shards_and_workers_union_equals_single_process(tmp_path):
    items = digit_plan(6)
    run_generation(items, RenderGenerator(), tmp_path / "one", progress=False)
    r0 = run_generation(items, RenderGenerator(), tmp_path / "sharded", shard=(0, 3), progress=False)
    r1 = run_generation(items, RenderGenerator(), tmp_path / "sharded", shard=(2, 3), progress=False)
    assert not r0.metadata_written and not r1.metadata_written
    r2 = run_generation(items, RenderGenerator(), tmp_path / "sharded", shard=(1, 3), progress=False)
    assert r0.generated + r1.generated + r2.generated == len(items) and r2.metadata_written
    assert tree_digest(tmp_path / "sharded") == tree_digest(tmp_path / "one")
    run_generation(items, RenderGenerator(), tmp_path / "workers", workers=2, batch_size=8, progress=False)
    assert tree_digest(tmp_path / "workers") == tree_digest(tmp_path / "one")


def test_folder_from_another_plan_is_refused(tmp_path):
    run_generation(digit_plan(2, seed=0), RenderGenerator(), tmp_path / "o", progress=False)
    with pytest.raises(GenerationError, match="different plan"):
        run_generation(digit_plan(2, seed=1), RenderGenerator(), tmp_path / "o", progress=False)
    (tmp_path / "foreign").mkdir()
    Image.new("L", (2, 2)).save(tmp_path / "foreign" / "x.png")
    with pytest.raises(GenerationError, match="not made by this plan"):
        run_generation(digit_plan(2), RenderGenerator(), tmp_path / "foreign", progress=False)


def test_undrawable_class_is_an_error_unless_skipped(tmp_path):
    items = build_plan({1: 2, 2: 3}, FASHION, load_bank("fashion-lt"), 0)  # Pullover has no emoji
    with pytest.raises(GenerationError, match="(?s)cannot draw.*Pullover.*--skip-undrawable"):
        run_generation(items, RenderGenerator(), tmp_path / "o", progress=False)
    report = run_generation(items, RenderGenerator(), tmp_path / "o", skip_undrawable=True, progress=False)
    assert report.generated == 2 and len(report.skipped) == 3
    assert all("Pullover" in reason for _, reason in report.skipped)
    assert report.metadata_written


def test_unknown_generator():
    with pytest.raises(GenerationError, match="unknown generator"):
        make_generator("dalle")


def test_plan_paths_are_confined_through_symlinked_folders_and_files(tmp_path):
    """Every plan name is checked against symlinks: a folder or a file that leads outside the output
    folder is refused, one that stays inside is accepted (folders are resolved once, not per file)."""
    from dataclasses import replace

    from synaug.generators.runner import check_plan_paths

    out, outside = tmp_path / "out", tmp_path / "elsewhere"
    (out / "inside").mkdir(parents=True)
    outside.mkdir()
    os.symlink(out / "inside", out / "alias")
    os.symlink(outside, out / "away")
    os.symlink(outside / "victim.png", out / "inside" / "leak.png")  # dangling, to a file outside
    os.symlink(out / "inside" / "x.png", out / "inside" / "ok.png")
    item = digit_plan(1)[0]
    named = lambda *names: [replace(item, file_name=n) for n in names]  # noqa: E731
    check_plan_paths(named("a/1.png", "inside/ok.png", "alias/2.png", "3.png"), out)
    for bad in ("away/1.png", "inside/leak.png"):
        with pytest.raises(GenerationError, match="leads outside the output folder"):
            check_plan_paths(named("a/1.png", bad), out)
