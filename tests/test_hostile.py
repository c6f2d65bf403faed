"""Hostile inputs (issue 12): a catalogue of messy, wrong or malicious inputs, one row each in CASES.

Every case builds tiny fixtures (8x8 images) in its own folder, runs one or more `synaug` commands
in-process and asserts the exact outcome class:
- ERROR: `error: ...` on stderr, exit 2, a message substring; never a traceback;
- SKIP: the command succeeds and reports (names) what it skipped;
- OK: the command succeeds with the correct result (checked).
For every case, nothing outside the case's output folder (`out*`) changes: the input files and a
sentinel folder are hashed before and after. The catalogue covers wrong numbers (label spaces,
16-bit and alpha images, label typos, duplicates, templates, banks, zero or non-finite options and
losses), lost files (plan paths escaping the output folder, run folders reused or resumed by another
run), tracebacks (truncated images and checkpoints, binary and non-UTF-8 files, read-only and full
disks, files where folders belong) and unhelpful edges (BOM, every skipped file named, non-ASCII
class names, one-class and already balanced data).

Each case has a kind, what it guards against (issue 19). Round 3 (issue 19) added, by kind, cases
(79 -> 125) and the tests after the catalogue (2 -> 8):
- data loss 12 -> 21 (outputs that alias inputs: the dataset CSV, a hard link of it, an image of the
  dataset, the modifier bank; an earlier audit; a generate, demo or experiment folder of other files);
- leak 1 -> 3 tests (SIGKILLed `generate`, `cache --workers 2`, `train` with cache workers);
- hang 0 -> 6 (a FIFO in an image folder or named by a CSV, a device; plans and sides over the caps);
- traceback 32 -> 37 (+1 test: torchrun via `synaug.launch`) (zero-byte checkpoints, cache sizes and
  a full disk, a metadata.csv without `label`);
- silently wrong 35 -> 58 (U-0, an imbalance that empties classes, options accepted and ignored,
  colliding and hidden class names, contradicting columns, a cache source rewritten with its size and
  mtime kept, evaluate with other thresholds, workers 0, .inf, duplicate keys, bank classes not in the
  data, a bad environment value);
- resume 1 -> 2 tests (SIGKILL then --resume: log.jsonl equals the uninterrupted run's);
- race 0 -> 1 test (two builds of one cache at once);
- late error 0 -> 3 (stage 2 without its data, a bad --pretrained, a missing audit: before any write).

Round 4 (issue 33) added, by kind, cases (125 -> 160) and tests after the catalogue (9 -> 13 functions,
the Ctrl-C hint one run for 3 commands):
- data loss 21 -> 28 (--overwrite of a project folder with a config.yaml, of a run holding its
  synthetic set, a user's file and a linked dataset, through a symlinked run folder; demo / experiment
  into a folder of a user's runs/ or results.json; export over a model.pth or into the dataset);
- silently wrong 58 -> 74 (csv split values Train / ' train' / 0 mixed with train / unknown; a
  synthetic folder copied without its record or planned for other data; a killed run exported; the
  cosine head's load lines; absurd guidance; `plan --suggest ' '`; a KEY=VALUE given twice, a fit
  setting as flag and option, resize in config and flag, fit settings in fit: and generate: {fit:};
  an --out inside the dataset; +1 test: vary with one synthetic folder);
- traceback 37 -> 47 (export and fit on a full disk, zero denoiser widths, a missing device for a
  fit and for train, a truncated fitted generator, a foreign generator.json, more sampling steps than the fit's timesteps, a
  torchvision model that cannot take 8 px or grey images; +1 test: torchrun with a batch that does
  not split; +1 test: Ctrl-C during a cache build; +1 test (3 runs): the Ctrl-C hint per command);
- hang (runaway work) 6 -> 8 (a fit batch above its pool, zero fit steps).

The rest of round 4 (issue 33, ROUND4_REST) added, by kind, cases (160 -> 173) and tests after the
catalogue (13 -> 14 functions):
- late error 3 -> 13 (refused only after a folder was made, now before any, and out/ checked absent:
  an experiment's unknown option, one its experiment read only when collecting (fig5), a table given
  options, an experiment's generator option out of range, a config file's missing device for
  experiment / train / run, a model that cannot take the images for experiment / run, a run config's
  degrade; round 4's two torchvision cases now also check that no run folder is left);
- silently wrong 74 -> 77 (diffusion guidance absurd in a run config and as --generator-option, an
  unknown img2img in a config; +1 test: the declared option checks leave job keys unchanged).
"""

from __future__ import annotations

import csv
import errno
import hashlib
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image

from synaug.cli import main

ERROR, SKIP, OK = "error", "skip", "ok"
# what a case guards against (issue 19's kinds); the catalogue's counts by kind are in its docstring
LOSS, LEAK, HANG, TRACE, SILENT, RESUME, RACE, LATE = ("data loss", "leak", "hang", "traceback", "silently wrong",
                                                       "resume", "race", "late error")
TRAIN = ["--steps", "2", "--stage2-steps", "2", "--batch-size", "8", "--device", "cpu"]


# ----------------------------------------------------------------------------- fixtures
def _img(path: Path, value: int = 100, mode: str = "L", size: int = 8) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(value)
    arr = rng.integers(0, 255, (size, size), dtype=np.uint8)
    Image.fromarray(arr, "L").convert(mode).save(path)
    return path


def folder(t: Path, train=None, test=None, name="data") -> str:
    """imagefolder:ROOT with train/ and test/ class folders of 8x8 PNGs."""
    root = t / name
    for split, counts in (("train", train or {"a": 6, "b": 3}), ("test", test or {"a": 2, "b": 2})):
        for c, n in counts.items():
            for i in range(n):
                _img(root / split / c / f"{i}.png", value=7 * i + sum(map(ord, c)) % 50)
    return f"imagefolder:{root}"


def table(t: Path, rows, name="tab", header=("file_name", "label", "split"), encoding="utf-8",
          make_images=True) -> str:
    """csv:FILE with one 8x8 PNG per distinct file name."""
    root = t / name
    root.mkdir(parents=True, exist_ok=True)
    for i, r in enumerate(rows):
        if make_images and not (root / r[0]).exists():
            _img(root / r[0], value=i)
    with open(root / "metadata.csv", "w", newline="", encoding=encoding) as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return f"csv:{root / 'metadata.csv'}"


def rows(train=(("0", 4), ("1", 3), ("2", 2)), test=(("0", 2), ("1", 2), ("2", 2))):
    out = []
    for split, spec in (("train", train), ("test", test)):
        for label, n in spec:
            out += [(f"{split}_{label}_{i}.png", label, split) for i in range(n)]
    return out


def plan_file(t: Path, names, name="p.csv") -> str:
    """A hand-edited plan: render items with the given file names (valid otherwise)."""
    path = t / name
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file_name", "cell", "label", "class_name", "group", "group_name", "index", "modifier",
                    "prompt", "seed"])
        for i, n in enumerate(names):
            w.writerow([n, "0", "0", "0", "", "", i, "a", "a photo of a digit 0", i])
    return str(path)


def trained_run(t: Path, method="ce", out="out/run") -> list[str]:
    return ["train", "--dataset", folder(t), "--method", method, "--out", str(t / out), *TRAIN]


def utkface(t: Path) -> str:
    root = t / "utk"
    root.mkdir()
    k = 0
    for gender in (0, 1):
        for race in range(4):
            for i in range(3):
                k += 1
                rgb = np.random.default_rng(k).integers(0, 255, (16, 16, 3), dtype=np.uint8)
                Image.fromarray(rgb).save(root / f"{20 + i}_{gender}_{race}_20170110{k:09d}.jpg.chip.jpg", quality=90)
    good = sorted(root.iterdir())[0].read_bytes()
    (root / "30_1_2_20170110000000999.jpg.chip.jpg").write_bytes(good[: len(good) // 3])  # truncated
    (root / "31_0_1_20170110000000998.jpg.chip.jpg").write_bytes(good[: len(good) // 2])  # truncated
    return f"utkface:{root}"


def waterbirds(t: Path) -> str:
    root = t / "wb"
    lines = ["img_id,img_filename,y,split,place"]
    for k in range(24):
        y, place, split = k % 2, (k // 2) % 2, (k // 4) % 3
        rgb = np.random.default_rng(k).integers(0, 255, (16, 16, 3), dtype=np.uint8)
        (root / "birds").mkdir(parents=True, exist_ok=True)
        Image.fromarray(rgb).save(root / "birds" / f"{k}.jpg")
        lines.append(f"{k},birds/{k}.jpg,{y},{split},{place}")
    lines.append("99,birds/gone.jpg,0,0,0")
    (root / "metadata.csv").write_text("\n".join(lines) + "\n")
    return f"waterbirds:{root}"


def bank(t: Path, text: str) -> str:
    (t / "bank.yaml").write_text(text)
    return str(t / "bank.yaml")


# ----------------------------------------------------------------------------- checks
def load(spec):
    from synaug.data import load_dataset
    return load_dataset(spec)


def check_label_space(t, out, err):
    splits = load(f"csv:{t / 'tab' / 'metadata.csv'}")
    assert splits.test.class_names == splits.train.class_names == ["0", "1", "2"]
    truth = [r.split("_")[1] for r in sorted(p.name for p in (t / "tab").glob("test_*.png"))]
    assert sorted(splits.test.class_names[c] for c in splits.test.labels) == sorted(truth)
    metrics = json.loads((t / "out" / "run" / "metrics.json").read_text())
    assert len(metrics["per_class"]) == 3


def pixel_of(spec, value):
    def check(t, out, err):
        splits = load(spec(t) if callable(spec) else spec)
        assert sorted(set(splits.train.images.reshape(-1).tolist())) == value
    return check


def plan_rows(t, name="out/plan.csv"):
    with open(t / name, newline="") as f:
        return list(csv.DictReader(f))


# ----------------------------------------------------------------------------- the catalogue
@dataclass
class Case:
    id: str
    setup: Callable[[Path], list]  # -> argv, or a list of argv (all but the last must succeed)
    outcome: str                    # ERROR, SKIP or OK
    text: str = ""                  # substring of stderr (ERROR) or of the report (SKIP) or stdout (OK)
    check: Callable | None = None   # (tmp, stdout, stderr) -> None, after the command (any outcome)
    env: Callable | None = field(default=None)  # (monkeypatch) -> None, e.g. a simulated full disk
    kind: str = ""                  # LOSS, HANG, TRACE, SILENT, LATE... (`of_kind`)


def of_kind(kind: str, cases: list, others: dict | None = None) -> list:
    """`cases` of `kind`, but those `others` names ({case id: kind})."""
    return [replace(c, kind=(others or {}).get(c.id, c.kind or kind)) for c in cases]


def _resnet18_checkpoint(path: Path) -> None:
    import torch
    import torchvision
    torch.save(torchvision.models.resnet18().state_dict(), path)


def _large_folder(t: Path) -> None:
    """80 px images (read from disk, decoded into the cache) and a JPEG whose header reads but whose
    data are cut off: the reader keeps it, the cache cannot decode it and names it."""
    for split in ("train", "test"):
        for c, n in (("a", 4), ("b", 2)):
            for i in range(n):
                _img(t / "big" / split / c / f"{i}.png", value=40 * i + (90 if c == "b" else 0), size=80)
    whole = t / "big" / "whole.jpg"
    Image.fromarray(np.full((80, 80, 3), 120, np.uint8)).save(whole)
    (t / "big" / "train" / "a" / "broken.jpg").write_bytes(whole.read_bytes()[:300])
    whole.unlink()


def _png16(t):
    root = t / "d16"
    for split in ("train", "test"):
        for c, v in (("a", 65535), ("b", 32896)):
            for i in range(2):
                p = root / split / c / f"{i}.png"
                p.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(np.full((8, 8), v, dtype=np.uint16)).save(p)
    return f"imagefolder:{root}"


def _modes(t, mode, colour):
    root = t / f"d{mode}"
    for split in ("train", "test"):
        for c in ("a", "b"):
            for i in range(2):
                p = root / split / c / f"{i}.{'tif' if mode == 'CMYK' else 'png'}"
                p.parent.mkdir(parents=True, exist_ok=True)
                Image.new(mode, (8, 8), colour).save(p)
    return f"imagefolder:{root}"


def _palette(t):
    root = t / "dP"
    for split in ("train", "test"):
        for c in ("a", "b"):
            for i in range(2):
                p = root / split / c / f"{i}.png"
                p.parent.mkdir(parents=True, exist_ok=True)
                Image.new("RGB", (8, 8), (255, 0, 0)).convert("P", palette=Image.ADAPTIVE).save(p)
    return f"imagefolder:{root}"


def _full_disk(monkeypatch):
    import synaug.fileio

    def no_space(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(synaug.fileio.os, "replace", no_space)


def _truncate_checkpoint(t):
    ckpt = t / "out" / "run" / "stage1.pt"
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[: len(data) // 2])
    return ["evaluate", "--run", str(t / "out" / "run"), "--device", "cpu"]


def _after(first: Callable, then: Callable):
    """Two steps: `first` builds and returns an argv; `then(t)` (run after it) returns the next."""
    def setup(t):
        return [first(t), lambda: then(t)]
    return setup


# ----------------------------------------------------------------------------- round 3 (issue 19)
def _fifo(t: Path, name="data/train/a/pipe.png") -> str:
    spec = folder(t)
    os.mkfifo(t / name)  # opening it for reading would wait for a writer forever
    return spec


def _fifo_in_csv(t: Path) -> str:
    spec = table(t, rows())
    (t / "tab" / "train_0_3.png").unlink()
    os.mkfifo(t / "tab" / "train_0_3.png")
    return spec


def _pgm_folder(t: Path) -> str:
    """80 px binary PGM images: uncompressed, so a rewrite of the pixels keeps the file's size."""
    for split, counts in (("train", {"a": 3, "b": 2}), ("test", {"a": 1, "b": 1})):
        for c, n in counts.items():
            for i in range(n):
                _img(t / "pg" / split / c / f"{i}.pgm", value=11 * i + (50 if c == "b" else 0), size=80)
    return f"imagefolder:{t / 'pg'}"


def _rewrite_keeping_size_and_mtime(path: Path) -> None:
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[-200:] = bytes(255 - b for b in data[-200:])  # other pixels, same header and length
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns


def _manifests(n: int):
    def check(t, out, err):
        found = sorted((t / "out" / "c").glob("*/manifest.json"))
        assert len(found) == n, found
    return check


def _cache_args(t: Path, spec: str, *more) -> list:
    return ["cache", "--dataset", spec, "--image-size", "32", "--cache-dir", str(t / "out" / "c"), *more]


def _no_space_for_arrays(monkeypatch):
    def no_space(path, *a, **k):  # the disk fills while the array is being made: part of it is written
        Path(path).write_bytes(b"\x93NUMPY")
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(np.lib.format, "open_memmap", no_space)


def _no_creating_left(t, out, err):
    left = list((t / "out").rglob("*.creating"))
    assert not left, f"junk left behind: {left}"


def _zero_checkpoint(t: Path, then: list) -> list:
    (t / "out/run/stage1.pt").write_bytes(b"")
    return then


def _nothing_written(where: str):
    def check(t, out, err):
        assert not (t / where).exists(), f"{where} was written although the command failed on its inputs"
    return check


def _corrected_runs(t, out, err):
    _nothing_written("out/r")(t, out, err)
    assert main(["train", "--dataset", f"imagefolder:{t / 'data'}", "--method", "ce", "--out", str(t / "out/r"),
                 *TRAIN]) == 0, "the corrected command was refused"


def _csv_pairs(t: Path, pairs, header=("file_name", "label", "class_name", "split")) -> str:
    """csv:FILE whose train rows pair (label, class_name) as given; the test split has one of each."""
    train = [(f"x{i}.png", lab, name, "train") for i, (lab, name) in enumerate(pairs)]
    test = [(f"t{i}.png", lab, name, "test") for i, (lab, name) in enumerate(dict(pairs).items())]
    return table(t, train + test, header=header)


def _class_order(names):
    def check(t, out, err):
        assert load(f"csv:{t / 'tab' / 'metadata.csv'}").train.class_names == names
    return check


def _distinct_class_folders(n: int):
    def check(t, out, err):
        folders = {r["file_name"].split("/")[0] for r in plan_rows(t)}
        names = [r["file_name"].lower() for r in plan_rows(t)]
        assert len(folders) == n and len(set(names)) == len(names), folders
    return check


def _metadata_without_label(t: Path) -> str:
    (t / "syn").mkdir()
    (t / "syn" / "metadata.csv").write_text("file_name,lbl,class_name\na/a_000000.png,0,a\n")
    return str(t / "syn")


def _progress_abc(monkeypatch):
    monkeypatch.setenv("SYNAUG_PROGRESS_SECONDS", "abc")


def _audit_twice(t: Path) -> list:
    audit = ["audit", "--dataset", f"imagefolder:{t / 'data'}", "--synthetic", str(t / "out/syn"), "--out",
             str(t / "out/audit"), "--feature-steps", "2", "--quiet", "--device", "cpu"]
    return [["plan", "--dataset", folder(t), "--out", str(t / "out/plan.csv")],
            lambda: ["generate", "--plan", str(t / "out/plan.csv"), "--out", str(t / "out/syn")], audit,
            lambda: ((t / "out/audit/audit.json").write_text('{"mine": 1}'), audit)[-1]]


def _audit_kept(t, out, err):
    assert (t / "out/audit/audit.json").read_text() == '{"mine": 1}', "the earlier audit was overwritten"


ROUND3 = [
    *of_kind(LOSS, [
        Case("plan-out-json-overwrites-itself", lambda t: ["plan", "--dataset", folder(t), "--out",
             str(t / "out/plan.json")], ERROR, "name the plan's CSV (e.g. plan.csv)"),
        Case("plan-out-is-the-dataset-csv", lambda t: ["plan", "--dataset", table(t, rows()), "--out",
             str(t / "tab/metadata.csv")], ERROR, "--out would overwrite {t}/tab/metadata.csv, the dataset's own file"),
        Case("plan-out-is-a-hard-link-of-the-dataset-csv", lambda t: (table(t, rows()), os.link(
             t / "tab/metadata.csv", t / "linked.csv"), ["plan", "--dataset", f"csv:{t / 'tab'}", "--out",
             str(t / "linked.csv")])[-1], ERROR, "--out would overwrite {t}/tab/metadata.csv, the dataset's own file"),
        Case("plan-out-onto-an-image-of-the-dataset", lambda t: ["plan", "--dataset", folder(t), "--out",
             str(t / "data/train/a/0.png")], ERROR, "--out would overwrite {t}/data/train/a/0.png, a file inside "
             "the dataset's folder {t}/data"),
        Case("plan-out-onto-its-modifier-bank", lambda t: ["plan", "--dataset", folder(t), "--modifiers",
             bank(t, "default: [a plain]\n"), "--out", str(t / "bank.yaml")], ERROR,
             "--out would overwrite {t}/bank.yaml, the modifier bank"),
        Case("audit-into-an-earlier-audit", _audit_twice, ERROR, "is not empty; give a new or empty folder",
             _audit_kept),
        Case("generate-into-a-folder-of-its-own", lambda t: ((t / "out").mkdir(), (t / "out/README.md").write_text(
             "my notes"), ["generate", "--plan", plan_file(t, ["0/a.png"]), "--out", str(t / "out")])[-1], ERROR,
             "already has files of its own (README.md); use a new or empty --out folder",
             lambda t, o, e: (t / "out/README.md").read_text() == "my notes" or pytest.fail("README.md overwritten")),
    ]),
    *of_kind(HANG, [
        Case("fifo-in-an-image-folder", lambda t: ["plan", "--dataset", _fifo(t), "--out", str(t / "out/plan.csv")],
             SKIP, "pipe.png: not a regular file (a FIFO): not read"),
        Case("fifo-named-by-a-csv", lambda t: ["plan", "--dataset", _fifo_in_csv(t), "--out", str(t / "out/plan.csv")],
             SKIP, "train_0_3.png: not a regular file (a FIFO): not read"),
        Case("device-linked-into-an-image-folder", lambda t: (folder(t), os.symlink(
             "/dev/zero", t / "data/train/b/z.png"), ["plan", "--dataset", f"imagefolder:{t / 'data'}", "--out",
             str(t / "out/plan.csv")])[-1], SKIP,
             "z.png: not a regular file (a device): not read"),
        Case("strategy-u-1e9", lambda t: ["plan", "--dataset", folder(t), "--strategy", "U-1000000000", "--out",
             str(t / "out/plan.csv")], ERROR, "strategy U-1000000000 asks for 1,999,999,991 synthetic images, more "
             "than synaug plans at once (5,000,000)"),
        Case("strategy-json-1e8", lambda t: ["plan", "--dataset", folder(t), "--strategy", '{"0": 100000000}', "--out",
             str(t / "out/plan.csv")], ERROR, 'strategy {"0": 100000000} asks for 99,999,994 synthetic images'),
        Case("image-size-1e5", lambda t: ["plan", "--dataset", folder(t), "--image-size", "100000", "--out",
             str(t / "out/plan.csv")], ERROR, "argument --image-size: must be a side in pixels from 1 to 8192"),
    ]),
    *of_kind(TRACE, [
        Case("evaluate-zero-byte-checkpoint", _after(trained_run, lambda t: _zero_checkpoint(t, [
             "evaluate", "--run", str(t / "out/run"), "--device", "cpu"])), ERROR,
             "checkpoint {t}/out/run/stage1.pt is unreadable (truncated or not a synaug checkpoint: EOFError)"),
        Case("resume-from-a-zero-byte-checkpoint", _after(trained_run, lambda t: _zero_checkpoint(
             t, trained_run(t) + ["--resume"])), ERROR, "stage1.pt is unreadable (truncated or not a synaug "
             "checkpoint: EOFError)"),
        Case("cache-image-size-negative", lambda t: _cache_args(t, folder(t)) + ["--image-size=-5"], ERROR,
             "argument --image-size: must be a side in pixels from 1 to 8192, got -5"),
        Case("cache-full-disk-leaves-no-junk", lambda t: (_large_folder(t), _cache_args(t, f"imagefolder:{t / 'big'}"))
             [-1], ERROR, "No space left on device", _no_creating_left, env=_no_space_for_arrays),
        Case("filter-metadata-without-label", lambda t: ["filter", "--synthetic", _metadata_without_label(t),
             "--audit", str(t / "nope")], ERROR, "metadata.csv lacks the column(s) ['label']"),
    ]),
    *of_kind(SILENT, [
        Case("strategy-u-0-removes-everything", lambda t: ["plan", "--dataset", folder(t), "--strategy", "U-0",
             "--out", str(t / "out/plan.csv")], ERROR, "U-0 would remove every real image and add none"),
        Case("imbalance-empties-classes", lambda t: ["plan", "--dataset", "mnist-lt", "--imbalance", "1e9", "--out",
             str(t / "out/plan.csv")], ERROR, "--imbalance 1e+09 leaves 7 of 10 classes ([3, 4, 5, 6, 7, 8, 9]) "
             "with no training image"),
        Case("train-image-size-ignored-in-memory", lambda t: trained_run(t) + ["--image-size", "32"], ERROR,
             "image_size 32: imagefolder:{t}/data is held in memory at 8 px"),
        Case("cache-says-what-it-cached", lambda t: (_large_folder(t), [
             ["plan", "--dataset", f"imagefolder:{t / 'big'}", "--out", str(t / "out/plan.csv")],
             lambda: ["generate", "--plan", str(t / "out/plan.csv"), "--out", str(t / "out/syn")],
             lambda: _cache_args(t, f"imagefolder:{t / 'big'}", "--synthetic", str(t / "out/syn"))])[-1], OK,
             "images at 32px  0 skipped  held in memory (images of at most 64 px are not cached)"),
        Case("evaluate-other-thresholds-keep-the-runs-metrics", _after(trained_run, lambda t: (
             (t / "metrics.before.json").write_bytes((t / "out/run/metrics.json").read_bytes()),
             ["evaluate", "--run", str(t / "out/run"), "--many", "5", "--few", "2", "--device", "cpu"])[-1]), OK,
             "with other thresholds than the run's; metrics.json keeps the run's numbers",
             lambda t, o, e: (t / "out/run/metrics.json").read_bytes() == (t / "metrics.before.json").read_bytes()
             or pytest.fail("metrics.json rewritten with other thresholds")),
        Case("experiment-own-data-takes-no-dataset", lambda t: ["experiment", "fig5", "--dataset", "fashion-lt",
             "--out", str(t / "out")], ERROR, "experiment fig5 draws its own data (four 2-D Gaussians) and trains "
             "no network: dataset would be ignored"),
        Case("experiment-own-data-takes-no-steps", lambda t: ["experiment", "fig5", "--steps", "5", "--out",
             str(t / "out")], ERROR, "train would be ignored"),
        Case("class-names-collide-once-file-safe", lambda t: ["plan", "--dataset", folder(
             t, {"cat": 4, "Cat": 2, "cat-1": 1}, {"cat": 1, "Cat": 1, "cat-1": 1}), "--strategy", "LT+1", "--out",
             str(t / "out/plan.csv")], OK, "total", _distinct_class_folders(3)),
        Case("hidden-class-folder-named", lambda t: ["plan", "--dataset", folder(t, {"a": 4, "b": 2, ".c": 2}),
             "--out", str(t / "out/plan.csv")], SKIP, "hidden folder(s) ['.c'] are not read as classes"),
        Case("csv-label-contradicts-class-name", lambda t: ["plan", "--dataset", _csv_pairs(
             t, [("0", "a"), ("1", "b"), ("0", "b")]), "--out", str(t / "out/plan.csv")], ERROR,
             "line 4: label '0' and class_name 'b' contradict each other ('b' is label 1 of ['a', 'b'])"),
        Case("csv-label-numbering-kept", lambda t: ["plan", "--dataset", _csv_pairs(
             t, [("0", "zebra"), ("1", "ant"), ("0", "zebra")]), "--out", str(t / "out/plan.csv")], OK, "total",
             _class_order(["zebra", "ant"])),
        Case("csv-group-contradicts-group-name", lambda t: ["plan", "--dataset", table(t, [
             ("x0.png", "0", "train", "0", "day"), ("x1.png", "1", "train", "1", "night"),
             ("x2.png", "1", "train", "0", "night"), ("t0.png", "0", "test", "0", "day")],
             header=("file_name", "label", "split", "group", "group_name")), "--out", str(t / "out/plan.csv")],
             ERROR, "line 4: group '0' and group_name 'night' contradict each other"),
        Case("cache-sees-a-rewrite-that-keeps-size-and-mtime", lambda t: [
             _cache_args(t, _pgm_folder(t)),
             lambda: (_rewrite_keeping_size_and_mtime(t / "pg/train/a/0.pgm"),
                      _cache_args(t, f"imagefolder:{t / 'pg'}"))[-1]], OK, "cache:", _manifests(3)),
        Case("cache-workers-0", lambda t: _cache_args(t, folder(t)) + ["--workers", "0"], ERROR,
             "argument --workers: must be a number of processes from 1 to 256, got 0"),
        Case("config-cache-workers-negative", lambda t: trained_run(t) + ["--config", bank(t, "cache_workers: -2\n")],
             ERROR, "training option cache_workers: must be a number of processes from 1 to 256, got -2"),
        Case("run-config-generate-workers-0", lambda t: ["run", "--config", bank(t, f"dataset: '{folder(t)}'\n"
             "generate: {workers: 0}\n"), "--out", str(t / "out")], ERROR, "generate workers: must be a number of "
             "processes from 1 to 256, got 0"),
        Case("config-lr-infinite", lambda t: trained_run(t) + ["--config", bank(t, "train:\n  lr: .inf\n")], ERROR,
             "'.inf' is not a finite number"),
        Case("experiment-option-ratio-infinite", lambda t: ["experiment", "fig5", "--config", bank(
             t, "options: {ratio: .inf}\n"), "--out", str(t / "out")], ERROR, "'.inf' is not a finite number"),
        Case("strategy-json-duplicate-key", lambda t: ["plan", "--dataset", folder(t), "--strategy",
             '{"0": 7, "0": 9}', "--out", str(t / "out/plan.csv")], ERROR, "duplicate key '0'"),
        Case("strategy-json-cell-given-twice", lambda t: ["plan", "--dataset", folder(t), "--strategy",
             '{"0": 7, 0: 9}', "--out", str(t / "out/plan.csv")], ERROR, "cell 0 is given twice"),
        Case("config-duplicate-key", lambda t: trained_run(t) + ["--config", bank(
             t, "train:\n  steps: 2\n  steps: 3\n")], ERROR, "duplicate key 'steps'"),
        Case("bank-class-not-in-the-data", lambda t: ["plan", "--dataset", folder(t), "--modifiers", bank(
             t, "classes:\n  zebra: [a striped]\n"), "--out", str(t / "out/plan.csv")], ERROR,
             "modifier bank class 'zebra', which is not a class of this dataset"),
        Case("progress-seconds-not-a-number", lambda t: ["plan", "--dataset", folder(t), "--out",
             str(t / "out/plan.csv")], ERROR, "environment variable SYNAUG_PROGRESS_SECONDS='abc': must be a number "
             "of seconds >= 0", env=_progress_abc),
    ]),
    *of_kind(LATE, [
        Case("stage2-needs-a-validation-split", lambda t: ["train", "--dataset", folder(t), "--method",
             "group-dro+dfr", "--out", str(t / "out/r"), *TRAIN], ERROR, "method 'group-dro+dfr' fine-tunes on a "
             "validation split, and this dataset has none", _nothing_written("out/r")),
        Case("bad-pretrained-claims-nothing", lambda t: ((t / "junk.pth").write_bytes(b"PK\x03\x04 nope"),
             ["train", "--dataset", folder(t), "--method", "ce", "--out", str(t / "out/r"), "--model", "resnet18",
              "--pretrained", str(t / "junk.pth"), *TRAIN])[-1], ERROR, "cannot read checkpoint", _corrected_runs),
        Case("audit-to-weight-by-is-missing", lambda t: trained_run(t, out="out/r") + ["--config", bank(
             t, f"train:\n  synthetic_weighting: audit\n  audit: {t / 'nope'}\n")], ERROR,
             "no audit.json at {t}/nope", _nothing_written("out/r")),
    ]),
]


# ----------------------------------------------------------------------------- round 4 (issue 33)
TINY_FIT = ["--steps", "2", "--batch-size", "4", "--fit-option", "arch_options={channels: [8, 16], emb_dim: 32}",
            "--fit-option", "train_timesteps=20", "--quiet", "--quality-samples", "0"]  # quality: test_pretrain


def fitted(t: Path, *more) -> list:
    """A tiny ddpm fit of mnist-lt into out/G."""
    return ["fit-generator", "--dataset", "mnist-lt", "--out", str(t / "out/G"), *TINY_FIT, *more]


def _draw(t: Path, *more) -> list:
    """Plan mnist-lt and draw it with the fit in out/G (steps run in order)."""
    return [fitted(t), ["plan", "--dataset", "mnist-lt", "--strategy", "LT+1", "--out", str(t / "out/p.csv")],
            lambda: ["generate", "--plan", str(t / "out/p.csv"), "--generator", "ddpm", "--generator-model",
                     str(t / "out/G"), "--out", str(t / "out/syn"), *more]]


def _truncated_fit(t: Path) -> list:
    steps = _draw(t, "--sampling-steps", "5")
    cut = steps[-1]

    def truncate_then_draw():
        ckpt = t / "out/G/checkpoint.pt"
        ckpt.write_bytes(ckpt.read_bytes()[:100])
        return cut()
    return steps[:-1] + [truncate_then_draw]


def _kept(path: str, text: str):
    def check(t, out, err):
        assert (t / path).read_text() == text, f"{path} was changed or removed"
    return check


def _no_export_left(t, out, err):
    assert not (t / "out/e").exists(), f"a partial export was left: {list((t / 'out/e').iterdir())}"


def _loads_as_printed(t, out, err):
    import torch
    import torchvision
    record = json.loads((t / "out/e/preprocess.json").read_text())
    assert "head='cosine'" in record["architecture"]["build"], record["architecture"]
    cwd = os.getcwd()
    os.chdir(t / "out/e")
    try:
        scope = {"torch": torch, "torchvision": torchvision}
        exec("\n".join(record["load"]), scope)  # the lines `synaug export` prints
    finally:
        os.chdir(cwd)
    assert scope["model"].classifier.weight.shape == (scope["model"].feature_dim, 2)


def _run_with_an_input_inside(t: Path) -> list:
    """A trained run whose folder holds a synthetic set (out/run/syn), a user's note and a link to the dataset."""
    return [trained_run(t), ["plan", "--dataset", f"imagefolder:{t / 'data'}", "--out", str(t / "out/p.csv")],
            lambda: ["generate", "--plan", str(t / "out/p.csv"), "--out", str(t / "out/run/syn")],
            lambda: ((t / "out/run/notes.txt").write_text("mine"), os.symlink(t / "data", t / "out/run/data"),
                     ["train", "--dataset", f"imagefolder:{t / 'data'}", "--method", "synaug", "--synthetic",
                      str(t / "out/run/syn"), "--out", str(t / "out/run"), "--overwrite", *TRAIN])[-1]]


def _inputs_kept(t, out, err):
    assert (t / "out/run/syn/metadata.csv").is_file(), "--overwrite deleted the synthetic set inside the run"
    assert (t / "out/run/notes.txt").read_text() == "mine", "--overwrite deleted a user's file"
    assert (t / "out/run/data").is_symlink() and (t / "data/train/a/0.png").is_file(), "the linked dataset was touched"


def _planned_and_drawn(t: Path, strategy: str = "U-4") -> list:
    """A plan (with a cut, for U-4) of the folder dataset, drawn into out/syn."""
    return [["plan", "--dataset", folder(t), "--strategy", strategy, "--out", str(t / "out/p.csv")],
            lambda: ["generate", "--plan", str(t / "out/p.csv"), "--out", str(t / "out/syn")]]


def _copied_without_record(t: Path) -> list:
    import shutil
    steps = _planned_and_drawn(t)
    return steps + [lambda: (shutil.copytree(t / "out/syn", t / "out/copy", ignore=shutil.ignore_patterns(".synaug")),
                             ["train", "--dataset", f"imagefolder:{t / 'data'}", "--method", "synaug", "--synthetic",
                              str(t / "out/copy"), "--out", str(t / "out/run"), *TRAIN])[-1]]


def _drawn_for_other_data(t: Path) -> list:
    return _planned_and_drawn(t) + [lambda: ["train", "--dataset", folder(t, {"a": 6, "b": 5}, name="data2"),
                                             "--method", "synaug", "--synthetic", str(t / "out/syn"), "--out",
                                             str(t / "out/run"), *TRAIN]]


ROUND4 = [
    *of_kind(LOSS, [
        Case("overwrite-a-project-folder-with-a-config-yaml", lambda t: (
             (t / "out").mkdir(), (t / "out/config.yaml").write_text("mine"), (t / "out/notes.md").write_text("mine"),
             trained_run(t, out="out") + ["--overwrite"])[-1], ERROR, "is not empty and is not a synaug run folder "
             "(no run.json or job.json): --overwrite deletes run folders only", _kept("out/notes.md", "mine")),
        Case("overwrite-keeps-inputs-inside-the-run-folder", _run_with_an_input_inside, OK, "All", _inputs_kept),
        Case("overwrite-through-a-symlinked-run-folder", _after(trained_run, lambda t: (
             os.symlink(t / "out/run", t / "out/link"), trained_run(t, out="out/link") + ["--overwrite"])[-1]), ERROR,
             "out/link is a symbolic link: --overwrite never deletes through one",
             lambda t, o, e: (t / "out/run/stage1.pt").is_file() or pytest.fail("the linked run was cleared")),
        Case("demo-into-a-folder-with-a-users-runs", lambda t: (
             (t / "out/runs").mkdir(parents=True), (t / "out/runs/mine.txt").write_text("mine"),
             (t / "out/config.yaml").write_text("mine"), ["demo", "--out", str(t / "out"), "--seeds", "0", "--quiet"])[-1],
             ERROR, "holds runs that synaug did not write (no run's job.json", _kept("out/config.yaml", "mine")),
        Case("experiment-into-a-folder-with-a-users-training-folder", lambda t: (
             (t / "out/runs/net/seed0").mkdir(parents=True), (t / "out/runs/net/seed0/versions.json").write_text(
                 '{"python": "3.11"}'), (t / "out/config.yaml").write_text("mine"),
             ["experiment", "fig5", "--out", str(t / "out"), "--quiet"])[-1],
             ERROR, "holds runs that synaug did not write (no run's job.json", _kept("out/config.yaml", "mine")),
        Case("experiment-into-a-folder-with-a-users-results-json", lambda t: (
             (t / "out").mkdir(), (t / "out/results.json").write_text('{"mine": 1}'),
             (t / "out/report.html").write_text("mine"), ["experiment", "fig5", "--out", str(t / "out"), "--quiet"])[-1],
             ERROR, "holds results.json that synaug did not write", _kept("out/report.html", "mine")),
        Case("export-never-overwrites-a-model", _after(trained_run, lambda t: (
             (t / "out/e").mkdir(), (t / "out/e/model.pth").write_text("mine"),
             ["export", str(t / "out/run"), "--out", str(t / "out/e")])[-1]), ERROR,
             "is not empty (model.pth): an export never overwrites files", _kept("out/e/model.pth", "mine")),
        Case("export-into-the-dataset", _after(trained_run, lambda t: ["export", str(t / "out/run"), "--out",
             str(t / "data")]), ERROR, "{t}/data is not empty (test, train): an export never overwrites files"),
    ]),
    *of_kind(SILENT, [
        Case("fit-option-given-twice", lambda t: fitted(t, "--fit-option", "lr=0.1", "--fit-option", "lr=0.2"),
             ERROR, "--fit-option lr is given twice; give it once", _nothing_written("out/G")),
        Case("fit-steps-given-as-flag-and-option", lambda t: fitted(t, "--fit-option", "steps=3"), ERROR,
             "steps given both as a named flag and as --fit-option; give each once", _nothing_written("out/G")),
        Case("render-word-given-twice", lambda t: ["plan", "--dataset", folder(t), "--render-word", "a=cat",
             "--render-word", "a=dog", "--out", str(t / "out/p.csv")], ERROR,
             "--render-word a is given twice; give it once"),
        Case("csv-split-capitalised-is-train", lambda t: ["plan", "--dataset", table(t, [
             (f, label, "Train" if split == "train" else split) for f, label, split in rows()]), "--out",
             str(t / "out/plan.csv")], OK, "total        9"),
        Case("csv-split-with-a-space-is-train", lambda t: ["plan", "--dataset", table(t, [
             (f, label, " train" if split == "train" else split) for f, label, split in rows()]), "--out",
             str(t / "out/plan.csv")], OK, "total        9"),
        Case("csv-split-mixes-names-and-numbers", lambda t: ["plan", "--dataset", table(t, [
             (f, label, "0" if split == "train" and i % 2 else split) for i, (f, label, split) in enumerate(rows())]),
             "--out", str(t / "out/plan.csv")], ERROR, "mixes named splits (train, val, test) and numbered ones "
             "(0, 1, 2) in its split column; use one of the two"),
        Case("csv-split-unknown-is-named", lambda t: ["plan", "--dataset", table(t, [
             (f, label, "training" if i == 3 else split) for i, (f, label, split) in enumerate(rows())]), "--out",
             str(t / "out/plan.csv")], ERROR, "metadata.csv line 5: split 'training' is not one of train, val, test "
             "(or 0, 1, 2)"),
        Case("synthetic-folder-copied-without-its-record", _copied_without_record, SKIP,
             "has no plan record (.synaug/plan.json): every real training image is kept, none cut as a U-beta plan "
             "would"),
        Case("synthetic-folder-made-for-other-data", _drawn_for_other_data, ERROR, "out/syn was made for other data: "
             "planned for 'imagefolder:{t}/data' with real counts per cell [6, 3], not this training set's [6, 5]",
             _nothing_written("out/run")),
        Case("resize-in-config-and-flag-disagree", lambda t: trained_run(t) + ["--config", bank(
             t, "train:\n  resize: squash\n"), "--resize", "shorter-side"], ERROR, "resize is 'squash' in --config "
             "{t}/bank.yaml and 'shorter-side' by --resize: give each option once", _nothing_written("out/run")),
        Case("train-out-inside-the-dataset", lambda t: ["train", "--dataset", folder(t), "--method", "ce", "--out",
             str(t / "data/train/run"), *TRAIN], ERROR, "--out {t}/data/train/run is inside the dataset's folder "
             "{t}/data: what is written there would be read as part of the dataset"),
        Case("run-config-fit-settings-disagree", lambda t: ["run", "--config", bank(t, f"dataset: '{folder(t)}'\n"
             "fit: {steps: 4}\ngenerate: {generator: ddpm, fit: {pool: train, steps: 3}}\n"), "--out", str(t / "out")],
             ERROR, "config: fit setting(s) ['steps'] differ between `fit:` and `generate: {fit:}`; give each once",
             _nothing_written("out")),
        Case("export-a-killed-run", _after(trained_run, lambda t: ((t / "out/run/done").unlink(),
             ["export", str(t / "out/run"), "--out", str(t / "out/e")])[-1]), ERROR,
             "is not a finished run (no `done` marker", _no_export_left),
        Case("export-load-lines-build-a-cosine-head", _after(lambda t: trained_run(t, "ldam-drw"), lambda t: [
             "export", str(t / "out/run"), "--out", str(t / "out/e")]), OK, "exported", _loads_as_printed),
        Case("guidance-absurd", lambda t: ["generate", "--plan", plan_file(t, ["0/a.png"]), "--out", str(t / "out"),
             "--guidance", "1e6"], ERROR, "argument --guidance: must be a guidance scale from 0 to 50, got 1000000.0"),
        Case("plan-suggest-blank", lambda t: ["plan", "--suggest", " ", "--out", str(t / "out/p.csv")], ERROR,
             "argument --suggest: must be one or more words, got ' '"),
    ]),
    *of_kind(TRACE, [
        Case("export-on-a-full-disk-leaves-nothing", _after(trained_run, lambda t: [
             "export", str(t / "out/run"), "--out", str(t / "out/e")]), ERROR, "No space left on device; nothing of it "
             "was kept: free space (or fix the folder) and run `synaug export {t}/out/run` again", _no_export_left,
             env=_full_disk),
        Case("fit-on-a-full-disk", fitted, ERROR, "No space left on device; the fit stopped at step 0 of 2 with its "
             "last checkpoint kept: free space and run the same fit again, it resumes from there",
             lambda t, o, e: not list((t / "out").rglob("*.tmp")) or pytest.fail("a partial file was left"),
             env=_full_disk),
        Case("fit-zero-widths", lambda t: ["fit-generator", "--dataset", "mnist-lt", "--out", str(t / "out/G"),
             "--fit-option", "arch_options={channels: [0, 16]}"], ERROR,
             "ddpm fit arch_options channels: must be a non-empty list of integers from 1 to 4096, got [0, 16]",
             _nothing_written("out/G")),
        Case("fit-on-a-missing-device", lambda t: fitted(t, "--fit-option", "device=cuda:99"), ERROR,
             "ddpm fit device: device 'cuda:99' is not available on this machine (it has cpu",
             _nothing_written("out/G")),
        Case("torchvision-model-too-small-an-image", lambda t: ["train", "--dataset", _modes(t, "RGB", (9, 99, 199)),
             "--method", "ce", "--model", "vit_b_16", "--out", str(t / "out/run"), *TRAIN], ERROR,
             "model 'vit_b_16' cannot take 8 x 8 px images with 3 channel(s) (Wrong image height! Expected 224 but got "
             "8!); choose another --model", _nothing_written("out/run")),
        Case("torchvision-model-takes-rgb-only", lambda t: ["train", "--dataset", folder(t), "--method", "ce",
             "--model", "vit_b_16", "--out", str(t / "out/run"), *TRAIN], ERROR,
             "model VisionTransformer takes RGB images only (its stem is not rebuilt for other channel counts); this "
             "dataset's images have 1 channel(s)", _nothing_written("out/run")),
        Case("train-on-a-missing-device", lambda t: trained_run(t)[:-1] + ["cuda:99"], ERROR,
             "argument --device: device 'cuda:99' is not available on this machine (it has cpu",
             _nothing_written("out/run")),
        Case("draw-from-a-truncated-fit", _truncated_fit, ERROR, "checkpoint {t}/out/G/checkpoint.pt is unreadable "
             "(truncated or not a ddpm fit: PytorchStreamReader failed reading zip archive: failed finding central "
             "directory); remove {t}/out/G and run the fit again (`synaug fit-generator ... --out {t}/out/G`"),
        Case("draw-from-a-foreign-generator-json", lambda t: ((t / "out/G").mkdir(parents=True),
             (t / "out/G/generator.json").write_text('{"mine": 1}'), ["generate", "--plan", plan_file(t, ["0/a.png"]),
             "--generator", "ddpm", "--generator-model", str(t / "out/G"), "--out", str(t / "out/syn")])[-1], ERROR,
             "out/G/generator.json is not a ddpm fit's record (no generator, architecture, class_names, image_shape, "
             "schedule, pool, steps); remove {t}/out/G and run the fit again"),
        Case("draw-more-steps-than-the-fit-has", lambda t: _draw(t, "--sampling-steps", "50"), ERROR,
             "ddpm option steps: must be at most the 20 timesteps the model in {t}/out/G was trained with, got 50",
             _nothing_written("out/syn")),
    ]),
    *of_kind(HANG, [  # runaway work instead of a refusal
        Case("fit-batch-larger-than-the-pool", lambda t: ["fit-generator", "--dataset", "mnist-lt", "--out",
             str(t / "out/G"), "--steps", "2", "--batch-size", "100000"], ERROR,
             "ddpm fit batch_size 100000 is larger than the pool it learns from (615 images); give a batch_size of at "
             "most 615", _nothing_written("out/G")),
        Case("fit-zero-steps", lambda t: ["fit-generator", "--dataset", "mnist-lt", "--out", str(t / "out/G"),
             "--fit-option", "steps=0"], ERROR,
             "ddpm fit steps: must be a positive integer, got 0", _nothing_written("out/G")),
    ]),
]


# ----------------------------------------------------------------------------- round 4, the rest (issue 33)
def _experiment(t: Path, name: str, config: str, *more) -> list:
    """`synaug experiment NAME` with a config file of `config` into out/ (which must not be made)."""
    return ["experiment", name, "--config", bank(t, config), "--out", str(t / "out"), "--quiet", *more]


def _run_config(t: Path, config: str, dataset: Callable = folder) -> list:
    """`synaug run` of `dataset(t)` (the grey folder dataset) with `config` (YAML lines) into out/."""
    return ["run", "--config", bank(t, f"dataset: '{dataset(t)}'\n{config}"), "--out", str(t / "out")]


REFUSED = _nothing_written("out")
ROUND4_REST = [
    *of_kind(LATE, [  # refused only after a folder was made: now before any
        Case("experiment-unknown-option", lambda t: _experiment(t, "fig4", "options: {bogus: 1}\n"), ERROR,
             "experiment options: unknown key 'bogus' (known: baselines, feature_steps, levels, method, per_class, "
             "quality_steps)", REFUSED),
        Case("experiment-option-read-only-when-collecting", lambda t: _experiment(t, "fig5", "options: {n: 0}\n"),
             ERROR, "experiment option n: must be an integer >= 2, got 0", REFUSED),
        Case("experiment-table-given-options", lambda t: _experiment(t, "table1", "options: {levels: [1]}\n"), ERROR,
             "experiment options (a table's rows are its own; it takes skip_rows: [row label, ...]): unknown key "
             "'levels' (known: skip_rows)", REFUSED),
        Case("experiment-table-skips-a-row-it-lacks", lambda t: _experiment(t, "table5", "options: {skip_rows: [SMOTE]}\n"),
             ERROR, "options: skip_rows: 'SMOTE' is not a row of this table (its rows: 'ce', 'mixup', 'cutmix'", REFUSED),
        Case("experiment-generator-option-out-of-range", lambda t: _experiment(
             t, "fig2", "generate: {options: {degrade: 5}}\n"), ERROR,
             "render option degrade: must be a number from 0 to 1, got 5", REFUSED),
        Case("experiment-config-device-missing", lambda t: _experiment(t, "fig4", "train: {device: 'cuda:99'}\n"),
             ERROR, "training option device: device 'cuda:99' is not available on this machine (it has cpu", REFUSED),
        Case("experiment-model-cannot-take-the-images", lambda t: _experiment(t, "fig4", "train: {model: vit_b_16}\n"),
             ERROR, "model VisionTransformer takes RGB images only (its stem is not rebuilt for other channel counts); "
             "this dataset's images have 1 channel(s)", REFUSED),
        Case("train-config-device-missing", lambda t: trained_run(t)[:-2] + ["--config", bank(
             t, "train: {device: 'cuda:99'}\n")], ERROR, "training option device: device 'cuda:99' is not available "
             "on this machine (it has cpu", _nothing_written("out/run")),
        Case("run-config-device-missing", lambda t: _run_config(t, "train: {device: 'cuda:99'}\n"), ERROR,
             "training option device: device 'cuda:99' is not available on this machine (it has cpu", REFUSED),
        Case("run-config-model-cannot-take-the-images", lambda t: _run_config(
             t, "train: {model: alexnet}\n", lambda t: _modes(t, "RGB", (9, 99, 199))), ERROR, "model 'alexnet' cannot take 8 x 8 px images with 3 channel(s) "
             "(Given input size: (64x1x1). Calculated output size: (64x0x0). Output size is too small)", REFUSED),
        Case("run-config-degrade-out-of-range", lambda t: _run_config(t, "generate: {options: {degrade: -1}}\n"),
             ERROR, "render option degrade: must be a number from 0 to 1, got -1", REFUSED),
    ]),
    *of_kind(SILENT, [  # accepted, and drawn with
        Case("diffusion-guidance-absurd-in-a-config", lambda t: _run_config(
             t, "generate: {generator: diffusion, options: {guidance: 1000000, model: x}}\n"), ERROR,
             "diffusion option guidance: must be a guidance scale from 0 to 50, got 1000000", REFUSED),
        Case("diffusion-guidance-absurd-as-an-option", lambda t: ["generate", "--plan", plan_file(t, ["0/a.png"]),
             "--out", str(t / "out"), "--generator", "diffusion", "--generator-model", "x", "--generator-option",
             "guidance=-2"], ERROR, "diffusion option guidance: must be a guidance scale from 0 to 50, got -2",
             REFUSED),
        Case("diffusion-img2img-unknown-in-a-config", lambda t: _run_config(
             t, "generate: {generator: diffusion, options: {img2img: intre, model: x}}\n"), ERROR,
             "diffusion option img2img: must be one of intra, inter or null, got 'intre'", REFUSED),
    ]),
]


CASES = [
    # --- 1. wrong numbers -------------------------------------------------------------------------
    *of_kind(SILENT, [
    Case("csv-test-split-lacks-a-class", lambda t: ["train", "--dataset", table(t, rows(test=(("0", 2), ("2", 2)))),
         "--method", "ce", "--out", str(t / "out" / "run"), *TRAIN], OK, "All", check_label_space),
    Case("csv-test-label-absent-from-train", lambda t: ["train", "--dataset", table(t, rows(test=(("0", 1), ("3", 1)))),
         "--method", "ce", "--out", str(t / "out" / "run"), *TRAIN], ERROR, "fixed by the training split"),
    Case("png-16-bit-scaled-not-clipped", lambda t: ["plan", "--dataset", _png16(t), "--out", str(t / "out/plan.csv")],
         OK, "total", pixel_of(lambda t: f"imagefolder:{t / 'd16'}", [128, 255])),
    Case("rgba-composited-on-black", lambda t: ["plan", "--dataset", _modes(t, "RGBA", (200, 100, 50, 0)), "--out",
         str(t / "out/plan.csv")], OK, "total", pixel_of(lambda t: f"imagefolder:{t / 'dRGBA'}", [0])),
    Case("la-half-transparent", lambda t: ["plan", "--dataset", _modes(t, "LA", (200, 128)), "--out",
         str(t / "out/plan.csv")], OK, "total", pixel_of(lambda t: f"imagefolder:{t / 'dLA'}", [100])),
    Case("palette-png-keeps-colours", lambda t: ["plan", "--dataset", _palette(t), "--out", str(t / "out/plan.csv")],
         OK, "total", pixel_of(lambda t: f"imagefolder:{t / 'dP'}", [0, 255])),
    Case("cmyk-tiff-converted", lambda t: ["plan", "--dataset", _modes(t, "CMYK", (0, 255, 255, 0)), "--out",
         str(t / "out/plan.csv")], OK, "total", pixel_of(lambda t: f"imagefolder:{t / 'dCMYK'}", [0, 255])),
    Case("label-typo-7-among-0-2", lambda t: ["plan", "--dataset", table(t, rows(train=(("0", 3), ("1", 3), ("2", 2),
         ("7", 1)))), "--out", str(t / "out/plan.csv")], ERROR, "[3, 4, 5, 6] never occur"),
    Case("nan-label", lambda t: ["plan", "--dataset", table(t, rows() + [("x.png", "nan", "train")]),
         "--out", str(t / "out/plan.csv")], ERROR, "missing label 'nan'"),
    Case("empty-label", lambda t: ["plan", "--dataset", table(t, rows() + [("x.png", "", "train")]),
         "--out", str(t / "out/plan.csv")], ERROR, "missing label ''"),
    Case("duplicate-file-name-rows", lambda t: ["plan", "--dataset", table(t, rows() + [("train_0_0.png", "0", "train")]),
         "--out", str(t / "out/plan.csv")], ERROR, "duplicate file_name 'train_0_0.png'"),
    Case("template-without-class", lambda t: ["plan", "--dataset", folder(t), "--template", "a photo of {modifier}",
         "--out", str(t / "out/plan.csv")], ERROR, "has no {class}"),
    Case("bank-default-is-a-string", lambda t: ["plan", "--dataset", folder(t), "--modifiers",
         bank(t, "default: plain\n"), "--out", str(t / "out/plan.csv")], ERROR, "'default' must be a non-empty list"),
    Case("bank-class-entry-is-a-string", lambda t: ["plan", "--dataset", folder(t), "--modifiers",
         bank(t, "classes:\n  a: small\n"), "--out", str(t / "out/plan.csv")], ERROR, "class 'a' must be a non-empty"),
    Case("bank-classes-is-a-list", lambda t: ["plan", "--dataset", folder(t), "--modifiers",
         bank(t, "classes: [a, b]\n"), "--out", str(t / "out/plan.csv")], ERROR, "'classes' must map"),
    Case("train-steps-0", lambda t: ["train", "--dataset", folder(t), "--out", str(t / "out/r"), "--steps", "0"],
         ERROR, "argument --steps: must be a positive integer"),
    Case("train-batch-size-0", lambda t: ["train", "--dataset", folder(t), "--out", str(t / "out/r"),
         "--batch-size", "0"], ERROR, "argument --batch-size: must be a positive integer"),
    Case("train-lr-nan", lambda t: ["train", "--dataset", folder(t), "--out", str(t / "out/r"), "--lr", "nan"],
         ERROR, "not a finite number"),
    Case("config-steps-0", lambda t: ["train", "--dataset", folder(t), "--out", str(t / "out/r"), "--config",
         bank(t, "train:\n  steps: 0\n")], ERROR, "training option steps: must be a positive integer"),
    Case("config-steps-text", lambda t: ["train", "--dataset", folder(t), "--out", str(t / "out/r"), "--config",
         bank(t, "steps: many\n")], ERROR, "training option steps"),
    Case("plan-imbalance-0", lambda t: ["plan", "--imbalance", "0", "--out", str(t / "out/plan.csv")],
         ERROR, "argument --imbalance: must be an imbalance factor n_max / n_min >= 1, got 0.0"),
    Case("plan-seed-negative", lambda t: ["plan", "--seed", "-1", "--out", str(t / "out/plan.csv")],
         ERROR, "must be an integer >= 0"),
    Case("non-finite-loss-stops-training", lambda t: ["train", "--dataset", folder(t), "--method", "ce", "--out",
         str(t / "out/r"), "--steps", "6", "--batch-size", "8", "--lr", "1e30", "--device", "cpu"], ERROR, "the loss is"),
    ]),
    # --- 2. files lost ----------------------------------------------------------------------------
    *of_kind(LOSS, [
    Case("plan-absolute-file-name", lambda t: ["generate", "--plan", plan_file(t, [str(t / "sentinel" / "victim.png")]),
         "--out", str(t / "out")], ERROR, "absolute paths are not allowed"),
    Case("plan-dotdot-file-name", lambda t: ["generate", "--plan", plan_file(t, ["../sentinel/victim.png"]),
         "--out", str(t / "out")], ERROR, "'..'"),
    Case("plan-duplicate-file-names-by-case", lambda t: ["generate", "--plan", plan_file(t, ["a/x.png", "a/X.png"]),
         "--out", str(t / "out")], ERROR, "duplicate file_name"),
    Case("plan-overwrites-metadata", lambda t: ["generate", "--plan", plan_file(t, ["metadata.csv"]),
         "--out", str(t / "out")], ERROR, "metadata.csv is reserved"),
    Case("plan-hidden-state-folder", lambda t: ["generate", "--plan", plan_file(t, [".synaug/plan-fingerprint.png"]),
         "--out", str(t / "out")], ERROR, "hidden components"),
    Case("plan-escapes-through-symlink", lambda t: (os.makedirs(t / "out"), os.symlink(t / "sentinel", t / "out" / "l"),
         ["generate", "--plan", plan_file(t, ["l/victim.png"]), "--out", str(t / "out")])[-1],
         ERROR, "leads outside the output folder"),
    Case("train-into-non-empty-run-folder", _after(trained_run, lambda t: trained_run(t, "ce-rs")),
         ERROR, "is not empty (method ce"),
    Case("resume-with-another-method", _after(trained_run, lambda t: trained_run(t, "ce-rs") + ["--resume"]),
         ERROR, "--resume refused"),
    Case("resume-with-another-config", _after(trained_run, lambda t: trained_run(t) + ["--resume", "--lr", "0.5"]),
         ERROR, "train.lr: folder has"),
    Case("overwrite-a-folder-that-is-no-run", lambda t: ((t / "out").mkdir(), (t / "out" / "thesis.tex").write_text("x"),
         trained_run(t, out="out") + ["--overwrite"])[-1], ERROR, "not a synaug run folder"),
    Case("demo-into-a-folder-of-other-files", lambda t: ((t / "out").mkdir(), (t / "out" / "config.yaml").write_text("mine"),
         ["demo", "--out", str(t / "out"), "--seeds", "0", "--quiet"])[-1], ERROR, "holds no synaug results",
         lambda t, o, e: (t / "out" / "config.yaml").read_text() == "mine" or pytest.fail("config.yaml overwritten")),
    Case("experiment-into-a-folder-of-other-files", lambda t: ((t / "out").mkdir(), (t / "out" / "report.html").write_text("mine"),
         ["experiment", "fig5", "--out", str(t / "out"), "--quiet"])[-1], ERROR, "holds no synaug results",
         lambda t, o, e: (t / "out" / "report.html").read_text() == "mine" or pytest.fail("report.html overwritten")),
    Case("overwrite-clears-the-old-run", _after(trained_run, lambda t: ((t / "out/run/stage2.pt").write_bytes(b"old"),
                                                                       trained_run(t, "ce-rs") + ["--overwrite"])[-1]),
         OK, "All", lambda t, o, e: (not (t / "out/run/stage2.pt").exists()) or pytest.fail("stale stage2.pt")),
    Case("resume-with-another-dataset", _after(trained_run, lambda t: ["train", "--dataset", folder(t, name="data2"),
         "--method", "ce", "--out", str(t / "out/run"), "--resume", *TRAIN]), ERROR, "holds a different run (data.dataset: folder has"),
    Case("resume-from-a-truncated-checkpoint", _after(trained_run, lambda t: (
         (t / "out/run/stage1.pt").write_bytes((t / "out/run/stage1.pt").read_bytes()[:100]),
         trained_run(t) + ["--resume"])[-1]), ERROR, "is unreadable (truncated"),
    Case("evaluate-with-another-imbalance", _after(lambda t: ["train", "--dataset", "mnist-lt", "--method", "ce", "--out",
         str(t / "out/run"), *TRAIN], lambda t: ["evaluate", "--run", str(t / "out/run"), "--imbalance", "10",
         "--device", "cpu"]), ERROR, "was trained with --imbalance 100"),
    Case("evaluate-same-csv-named-two-ways", _after(lambda t: ["train", "--dataset", f"csv:{t / 'tab'}", "--method",
         "ce", "--out", str(t / "out/run"), *TRAIN] if table(t, rows()) else None,
         lambda t: ["evaluate", "--run", str(t / "out/run"), "--dataset", f"csv:{t / 'tab/metadata.csv'}",
                    "--device", "cpu"]), OK, "All"),
    Case("evaluate-damaged-run-config", _after(trained_run, lambda t: ((t / "out/run/config.yaml").write_text("[1, 2"),
         ["evaluate", "--run", str(t / "out/run"), "--device", "cpu"])[-1]), ERROR, "is not valid YAML"),
    Case("evaluate-takes-the-runs-dataset", _after(trained_run, lambda t: ["evaluate", "--run", str(t / "out/run"),
         "--device", "cpu"]), OK, "All"),
    Case("evaluate-on-another-dataset", _after(trained_run, lambda t: ["evaluate", "--run", str(t / "out/run"),
         "--dataset", "mnist-lt", "--device", "cpu"]), ERROR, "evaluating it on another dataset is refused"),
    Case("train-without-dataset", lambda t: ["train", "--method", "ce", "--out", str(t / "out/r")],
         ERROR, "the following arguments are required: --dataset"),
    ], {"resume-from-a-truncated-checkpoint": TRACE, "evaluate-damaged-run-config": TRACE,
        "evaluate-with-another-imbalance": SILENT, "evaluate-same-csv-named-two-ways": SILENT,
        "evaluate-takes-the-runs-dataset": SILENT, "evaluate-on-another-dataset": SILENT,
        "train-without-dataset": SILENT}),
    # --- 3./4. tracebacks -------------------------------------------------------------------------
    *of_kind(TRACE, [
    Case("utkface-truncated-images-skipped", lambda t: ["plan", "--dataset", utkface(t), "--out",
         str(t / "out/plan.csv")], SKIP, "31_0_1_20170110000000998.jpg.chip.jpg",
         lambda t, o, e: ("30_1_2_20170110000000999" in e) or pytest.fail("first skipped file not named")),
    Case("waterbirds-missing-image-skipped", lambda t: ["plan", "--dataset", waterbirds(t), "--out",
         str(t / "out/plan.csv")], SKIP, "gone.jpg"),
    Case("strategy-dict-count-not-a-number", lambda t: ["plan", "--strategy", '{"0": "lots"}', "--out",
         str(t / "out/plan.csv")], ERROR, "must be an integer >= 0"),
    Case("strategy-dict-bad-cell", lambda t: ["plan", "--strategy", '{"zero": 400}', "--out", str(t / "out/plan.csv")],
         ERROR, "unknown cell 'zero'"),
    Case("strategy-dict-bad-yaml", lambda t: ["plan", "--strategy", '{"0": [', "--out", str(t / "out/plan.csv")],
         ERROR, "not a valid JSON/YAML dict"),
    Case("run-config-strategy-counts-not-numbers", lambda t: ["run", "--config", bank(t, f"dataset: '{folder(t)}'\n"
         "methods: [synaug]\nplan: {strategy: {0: lots}}\n"), "--out", str(t / "out")], ERROR,
         "final counts must be integers >= 0"),
    Case("binary-csv", lambda t: ((t / "bin").mkdir(), (t / "bin" / "metadata.csv").write_bytes(b"file_name,label\x00\x01"
         b"\n\x00\x00x,1\n"), ["plan", "--dataset", f"csv:{t / 'bin'}", "--out", str(t / "out/plan.csv")])[-1],
         ERROR, "not a readable CSV"),
    Case("latin1-csv", lambda t: ["plan", "--dataset", table(t, [("é.png", "chat", "train"), ("b.png", "chien", "train"),
         ("c.png", "chat", "test")], encoding="latin-1", make_images=False), "--out", str(t / "out/plan.csv")],
         ERROR, "is not a UTF-8 CSV"),
    Case("binary-bank-yaml", lambda t: ["plan", "--dataset", folder(t), "--modifiers",
         (t / "b.yaml").write_bytes(b"\xff\xfe\x00\x01") and str(t / "b.yaml"), "--out", str(t / "out/plan.csv")],
         ERROR, "is not UTF-8 text"),
    Case("config-not-utf8", lambda t: ["train", "--dataset", folder(t), "--out", str(t / "out/r"), "--config",
         (t / "c.yaml").write_bytes(b"steps: \xe9\n") and str(t / "c.yaml")], ERROR, "is not UTF-8 text"),
    Case("config-is-a-list", lambda t: ["train", "--dataset", folder(t), "--out", str(t / "out/r"), "--config",
         bank(t, "- steps\n- 3\n")], ERROR, "must be a YAML mapping"),
    Case("config-missing-train", lambda t: ["train", "--dataset", folder(t), "--out", str(t / "out/r"), "--config",
         str(t / "nope.yaml")], ERROR, "--config " + "{t}/nope.yaml not found"),
    Case("config-missing-run", lambda t: ["run", "--config", str(t / "nope.yaml"), "--out", str(t / "out")],
         ERROR, "not found"),
    Case("read-only-location", lambda t: ["plan", "--dataset", folder(t), "--out", "/proc/synaug-hostile/plan.csv"],
         ERROR, "/proc/synaug-hostile"),
    Case("full-disk", lambda t: ["plan", "--dataset", folder(t), "--out", str(t / "out/plan.csv")], ERROR,
         "No space left on device", env=_full_disk),
    Case("train-out-is-a-file", lambda t: ((t / "out").write_text("notes"), ["train", "--dataset", folder(t), "--out",
         str(t / "out"), *TRAIN])[-1], ERROR, "is a file, not a folder"),
    Case("plan-out-is-a-folder", lambda t: ((t / "out").mkdir(), ["plan", "--out", str(t / "out")])[-1],
         ERROR, "is a folder; name a file"),
    Case("generate-out-is-a-file", lambda t: ((t / "out").write_text("notes"), ["generate", "--plan",
         plan_file(t, ["0/a.png"]), "--out", str(t / "out")])[-1], ERROR, "is a file, not a folder"),
    Case("generate-batch-size-0", lambda t: ["generate", "--plan", plan_file(t, ["0/a.png"]), "--out", str(t / "out"),
         "--batch-size", "0"], ERROR, "must be a positive integer"),
    Case("generate-workers-0", lambda t: ["generate", "--plan", plan_file(t, ["0/a.png"]), "--out", str(t / "out"),
         "--workers", "0"], ERROR, "argument --workers: must be a number of processes from 1 to 256, got 0"),
    Case("truncated-checkpoint", _after(trained_run, _truncate_checkpoint), ERROR, "is unreadable (truncated"),
    Case("truncated-plan-json", lambda t: ((t / "p.json").write_text('{"image_shape": [8,'),
         ["generate", "--plan", plan_file(t, ["0/a.png"]), "--out", str(t / "out")])[-1], ERROR, "is not valid JSON"),
    Case("truncated-cifar-pickle", lambda t: ((t / "cifar").mkdir(), (t / "cifar" / "meta").write_bytes(
         pickle.dumps({"fine_label_names": ["a"]})[:9]), (t / "cifar" / "train").write_bytes(
         pickle.dumps({"data": [1, 2, 3]})[:9]), ["plan", "--dataset", f"cifar100-lt:{t / 'cifar'}", "--out",
         str(t / "out/plan.csv")])[-1], ERROR, "is not a readable CIFAR pickle"),
    Case("embedded-dataset-with-a-path", lambda t: ["plan", "--dataset", f"mnist-lt:{t}", "--out",
         str(t / "out/plan.csv")], ERROR, "takes no path"),
    Case("demo-no-seeds", lambda t: ["demo", "--seeds", ",", "--out", str(t / "out")], ERROR, "bad --seeds"),
    Case("diffusion-strength-2", lambda t: ["generate", "--plan", plan_file(t, ["0/a.png"]), "--out", str(t / "out"),
         "--strength", "2"], ERROR, "must be a number in (0, 1]"),
    ], {"generate-batch-size-0": SILENT, "generate-workers-0": SILENT, "demo-no-seeds": SILENT}),
    # --- paper scale: large images, pretrained backbones, new training options ----------------------
    *of_kind(TRACE, [
    Case("config-optimizer-unknown", lambda t: ["train", "--dataset", folder(t), "--out", str(t / "out/r"), "--config",
         bank(t, "train:\n  optimizer: sgdd\n")], ERROR, "training option optimizer: must be one of sgd, adam, adamw, got 'sgdd'; did you mean 'sgd'?"),
    Case("config-rrc-scale-inverted", lambda t: ["train", "--dataset", folder(t), "--out", str(t / "out/r"), "--config",
         bank(t, "train:\n  rrc_scale: [0.9, 0.2]\n")], ERROR, "training option rrc_scale"),
    Case("pretrained-missing", lambda t: ["train", "--dataset", folder(t), "--method", "ce", "--out", str(t / "out/r"),
         "--model", "resnet18", "--pretrained", str(t / "nope.pth"), *TRAIN], ERROR, "no pretrained checkpoint"),
    Case("pretrained-not-a-checkpoint", lambda t: ((t / "junk.pth").write_bytes(b"PK\x03\x04 nope"),
         ["train", "--dataset", folder(t), "--method", "ce", "--out", str(t / "out/r"), "--model", "resnet18",
          "--pretrained", str(t / "junk.pth"), *TRAIN])[-1], ERROR, "cannot read checkpoint"),
    Case("pretrained-of-another-model", lambda t: (_resnet18_checkpoint(t / "r18.pth"),
         ["train", "--dataset", folder(t), "--method", "ce", "--out", str(t / "out/r"), "--model", "resnet50",
          "--pretrained", str(t / "r18.pth"), *TRAIN])[-1], ERROR, "does not fit the model's backbone"),
    Case("large-image-undecodable-skipped-by-the-cache", lambda t: (_large_folder(t), ["train", "--dataset",
         f"imagefolder:{t / 'big'}", "--method", "ce", "--out", str(t / "out/r"), *TRAIN])[-1], SKIP, "broken.jpg",
         lambda t, o, e: "All" in o or pytest.fail("training did not finish")),
    ], {"config-optimizer-unknown": SILENT, "config-rrc-scale-inverted": SILENT}),
    # --- 5. unhelpful edges -----------------------------------------------------------------------
    *of_kind(TRACE, [
    Case("csv-with-excel-bom", lambda t: ["plan", "--dataset", table(t, rows(), encoding="utf-8-sig"), "--out",
         str(t / "out/plan.csv")], OK, "total"),
    Case("every-skipped-file-named", lambda t: (folder(t), (t / "data/train/a/bad1.png").write_bytes(b"\x89PNG broken"),
         (t / "data/train/b/bad2.png").write_bytes(b""), ["plan", "--dataset", f"imagefolder:{t / 'data'}", "--out",
         str(t / "out/plan.csv")])[-1], SKIP, "bad1.png",
         lambda t, o, e: ("bad2.png" in e) or pytest.fail("second skipped file not named")),
    Case("non-ascii-class-names-stay-apart", lambda t: ["plan", "--dataset", folder(t, {"猫": 6, "犬": 2, "Cat": 2, "cat": 1},
         {"猫": 1, "犬": 1, "Cat": 1, "cat": 1}), "--strategy", "LT+1", "--out", str(t / "out/plan.csv")], OK, "total",
         lambda t, o, e: len({r["file_name"].split("/")[0] for r in plan_rows(t)}) == 4 or pytest.fail("folders collide")),
    Case("one-class-dataset", lambda t: ["plan", "--dataset", folder(t, {"a": 4}, {"a": 2}), "--out",
         str(t / "out/plan.csv")], ERROR, "needs at least 2"),
    Case("already-balanced-dataset-runs", lambda t: [
        ["plan", "--dataset", folder(t, {"a": 3, "b": 3}), "--out", str(t / "out/plan.csv")],
        lambda: ["generate", "--plan", str(t / "out/plan.csv"), "--out", str(t / "out/syn")],
        lambda: ["train", "--dataset", f"imagefolder:{t / 'data'}", "--method", "synaug", "--synthetic",
                 str(t / "out/syn"), "--out", str(t / "out/run"), *TRAIN]], OK, "All",
        lambda t, o, e: plan_rows(t) == [] or pytest.fail("a balanced plan adds images")),
    ], {"every-skipped-file-named": SILENT, "non-ascii-class-names-stay-apart": SILENT}),
    *ROUND3,
    *ROUND4,
    *ROUND4_REST,
]


# ----------------------------------------------------------------------------- runner
def snapshot(root: Path, skip: str = "out") -> dict:
    """{relative path: content hash} of every file under `root`, outside its output folders."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if rel.parts[0].startswith(skip) or rel.parts[0] == ".pytest":
            continue
        out[str(rel)] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
    return out


def run(argv, capsys, caplog):
    caplog.clear()
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse: `error: ...` and exit 2
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err + caplog.text


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input(case: Case, tmp_path, monkeypatch, capsys, caplog):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sentinel").mkdir()
    (tmp_path / "sentinel" / "victim.png").write_bytes(b"precious")
    (tmp_path / "sentinel" / "notes.txt").write_text("do not touch")
    steps = case.setup(tmp_path)
    steps = steps if steps and not isinstance(steps[0], str) else [steps]
    for first in steps[:-1]:
        first = first() if callable(first) else first
        code, out, err = run(first, capsys, caplog)
        assert code == 0, f"setup step {first} failed: {err}"
    last = steps[-1]() if callable(steps[-1]) else steps[-1]
    before = snapshot(tmp_path)
    if case.env:
        case.env(monkeypatch)
    code, out, err = run(last, capsys, caplog)
    assert "Traceback" not in err
    text = case.text.replace("{t}", str(tmp_path))
    if case.outcome == ERROR:
        assert code == 2 and "error:" in err, (code, err)
        assert text in err, err
    else:
        assert code == 0, err
        assert text in (err if case.outcome == SKIP else out), (out, err)
    assert snapshot(tmp_path) == before, "a file outside the output folder changed"
    if case.check:
        case.check(tmp_path, out, err)


def test_catalogue_size_and_outcomes():
    counts = {k: sum(c.outcome == k for c in CASES) for k in (ERROR, SKIP, OK)}
    assert len(CASES) >= 40 and len({c.id for c in CASES}) == len(CASES), counts
    kinds = {k: sum(c.kind == k for c in CASES) for k in (LOSS, HANG, TRACE, SILENT, LATE)}
    assert all(kinds.values()) and sum(kinds.values()) == len(CASES), kinds  # + LEAK, RESUME, RACE: tests below


# ----------------------------------------------------------------------------- beyond one command
def test_resumed_log_keeps_exactly_the_checkpointed_steps(tmp_path):
    from synaug.training.rundir import trim_log
    log = tmp_path / "log.jsonl"
    lines = [{"phase": "stage1", "step": s, "loss": 1.0} for s in (0, 20, 40, 60)]
    log.write_text("".join(json.dumps(x) + "\n" for x in lines) + '{"phase": "stage1", "st')
    trim_log(log, {"stage1": 40, "stage2": None})  # checkpoint after 40 steps: steps 40+ are re-run
    assert [json.loads(x)["step"] for x in log.read_text().splitlines()] == [0, 20]


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat")
    return not (state.is_file() and state.read_text().split(")")[-1].split()[0] == "Z")


SRC_ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}


def _sigkill_with_its_workers(argv: list, n: int = 2) -> None:
    """Start `synaug ARGV` in a process, SIGKILL it once `n` worker processes of it are seen, and
    check that none of them outlives it (they are killed here in any case)."""
    proc = subprocess.Popen([sys.executable, "-m", "synaug.cli", *map(str, argv)], env=SRC_ENV,
                            stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    deadline = time.time() + 120
    workers = []
    while time.time() < deadline and len(workers) < n and proc.poll() is None:
        time.sleep(0.05)
        workers = _children(proc.pid)
    assert proc.poll() is None and len(workers) >= n, "the command ended before its workers could be seen"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 10
    while time.time() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.2)
    left = [w for w in workers if _alive(w)]
    for w in left:  # do not leave them behind even when the test fails
        os.kill(w, signal.SIGKILL)
    assert not left, f"worker processes {left} outlived their killed parent"


@pytest.fixture(scope="module")
def many_large(tmp_path_factory) -> Path:
    """600 images of 96 px (on disk, decoded into the cache in 3 chunks, so by a pool of workers)."""
    root = tmp_path_factory.mktemp("many")
    for split, per_class in (("train", 300), ("test", 2)):
        for c in ("a", "b"):
            for i in range(per_class):
                _img(root / split / c / f"{i}.png", value=i + (1000 if c == "b" else 0), size=96)
    return root


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc and ps")
def test_sigkilled_generate_leaves_no_workers(tmp_path):
    plan = tmp_path / "plan.csv"
    assert main(["plan", "--dataset", "mnist-lt", "--out", str(plan)]) == 0
    _sigkill_with_its_workers(["generate", "--plan", plan, "--out", tmp_path / "out", "--workers", "2",
                               "--batch-size", "16"])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc and ps")
def test_sigkilled_cache_leaves_no_workers(tmp_path, many_large):
    _sigkill_with_its_workers(["cache", "--dataset", f"imagefolder:{many_large}", "--image-size", "80",
                               "--cache-dir", tmp_path / "c", "--workers", "2"])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc and ps")
def test_sigkilled_train_leaves_no_cache_workers(tmp_path, many_large):
    """`train` decodes on-disk images into the cache with `cache_workers` (default 2) processes."""
    _sigkill_with_its_workers(["train", "--dataset", f"imagefolder:{many_large}", "--method", "ce", "--out",
                               tmp_path / "run", "--image-size", "80", *TRAIN])


def test_concurrent_cache_builds_take_turns(tmp_path, many_large):
    """Two builds of one cache at once (runs sharing a cache folder) both end with the one finished
    cache; a build that finds another one under way waits for it, then reuses its cache."""
    import fcntl
    import threading
    from synaug.data.cache import build_cache

    paths = sorted((many_large / "train").rglob("*.png"))[:300]  # two chunks
    built, failed = [], []

    def build():
        try:
            built.append(build_cache(paths, 24, 1, tmp_path / "c", "t", progress=False))
        except Exception as exc:  # noqa: BLE001 - any failure is the race this test is about
            failed.append(exc)
    threads = [threading.Thread(target=build) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not failed and len(built) == 2, failed
    folder = built[0].folder
    assert built[1].folder == folder and np.array_equal(built[0].images, built[1].images)

    for name in ("manifest.json", "images.npy", "valid.npy"):  # as if the build were still under way
        (folder / name).unlink()
    (tmp_path / "paths.json").write_text(json.dumps([str(p) for p in paths]))
    code = (f"import json; from synaug.data.cache import build_cache; build_cache(json.load(open("
            f"{str(tmp_path / 'paths.json')!r})), 24, 1, {str(tmp_path / 'c')!r}, 't', progress=False)")
    with open(folder / ".lock", "w") as lock, open(tmp_path / "err.txt", "w") as err:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another builder holds the cache
        proc = subprocess.Popen([sys.executable, "-c", code], env=SRC_ENV, stderr=err)
        deadline = time.time() + 120
        while time.time() < deadline and "waiting" not in (tmp_path / "err.txt").read_text() and proc.poll() is None:
            time.sleep(0.1)
        assert proc.poll() is None and "another process is building it" in (tmp_path / "err.txt").read_text()
    assert proc.wait(timeout=120) == 0, (tmp_path / "err.txt").read_text()
    assert (folder / "manifest.json").is_file()


def test_resumed_log_equals_uninterrupted_after_sigkill(tmp_path):
    """SIGKILL mid-stage-1, then `train --resume`: log.jsonl equals an uninterrupted run's, line for line
    (the lines logged before the kill survive it, the running loss resumes from the checkpoint)."""
    import torch
    data = folder(tmp_path)
    config = bank(tmp_path, "train:\n  checkpoint_every: 10\n")
    train = lambda out: ["train", "--dataset", data, "--method", "wb", "--out", str(tmp_path / out), "--steps",  # noqa
                         "60", "--stage2-steps", "4", "--batch-size", "8", "--device", "cpu", "--config", config]
    env = {**SRC_ENV, "OMP_NUM_THREADS": str(torch.get_num_threads())}  # the same sums as this process
    proc = subprocess.Popen([sys.executable, "-m", "synaug.cli", *train("killed")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not (tmp_path / "killed/stage1.pt").is_file() and proc.poll() is None:
        time.sleep(0.02)
    assert proc.poll() is None, "training ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (tmp_path / "killed/log.jsonl").read_text(), "the lines logged before the kill were lost"
    assert main(train("killed") + ["--resume"]) == 0
    assert main(train("whole")) == 0
    resumed = (tmp_path / "killed/log.jsonl").read_text().splitlines()
    whole = (tmp_path / "whole/log.jsonl").read_text().splitlines()
    assert resumed == whole


def test_launch_reports_rank_errors_without_a_traceback(tmp_path):
    """`python -m synaug.launch` is torchrun without torchrun's ChildFailedError traceback: each rank's
    `error: ...`, one line per failed process, and the ranks' exit status (2)."""
    proc = subprocess.run([sys.executable, "-m", "synaug.launch", "--nproc_per_node", "2", "-m", "synaug.cli", "plan",
                           "--dataset", "nope", "--out", str(tmp_path / "out/plan.csv")], env=SRC_ENV,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "error: unknown dataset 'nope'" in proc.stderr, proc.stderr
    assert "error: synaug.cli failed on" in proc.stderr and "exited with status 2" in proc.stderr, proc.stderr


# ----------------------------------------------------------------------------- round 4: launches and Ctrl-C
def test_launch_refuses_a_batch_that_does_not_split_before_writing(tmp_path):
    """torchrun with a global batch that does not split over its processes: `error:`, exit 2 (the
    status the ranks chose, not the signal torchrun then stopped the others with), no run folder."""
    spec = folder(tmp_path)
    env = {**SRC_ENV, "SYNAUG_DIST_BACKEND": "gloo", "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([sys.executable, "-m", "synaug.launch", "--nproc_per_node", "2", "-m", "synaug.cli", "train",
                           "--dataset", spec, "--method", "ce", "--out", str(tmp_path / "out/r"), *TRAIN[:-4],
                           "--batch-size", "7", "--device", "cpu"], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert ("error: training option batch_size 7 does not split evenly over 2 processes (torchrun); use a multiple "
            "of 2, e.g. 6") in proc.stderr, proc.stderr
    assert not (tmp_path / "out/r").exists()


@pytest.mark.parametrize("command,hint", [
    ("train", "interrupted: run the same command with --resume to continue from its last checkpoint"),
    ("audit", "interrupted: remove the --out folder and run the same command again (an audit starts afresh)"),
    ("generate", "interrupted: re-run the same command to resume"),
])
def test_ctrl_c_says_how_to_go_on(command, hint, monkeypatch, capsys):
    """Ctrl-C in any command (here: while its parsers are built) exits 130 with one line saying what to
    run next, never a traceback; a run folder needs --resume, an audit a fresh folder."""
    import synaug.cli

    def interrupted():
        raise KeyboardInterrupt
    monkeypatch.setattr(synaug.cli, "build_parser", interrupted)
    assert main([command, "--out", "x"]) == 130
    err = capsys.readouterr().err
    assert err.strip() == hint and "Traceback" not in err


def test_vary_synthetic_with_one_folder_is_recorded_truthfully(tmp_path, monkeypatch, capsys):
    """`generate: {folder}` trains every seed on that one folder: the run's `vary` does not claim the
    synthetic images vary with the seed (the default vary does)."""
    from synaug.experiments.config import resolve_config
    monkeypatch.chdir(tmp_path)
    spec = folder(tmp_path)
    assert main(["plan", "--dataset", spec, "--out", str(tmp_path / "p.csv")]) == 0
    assert main(["generate", "--plan", str(tmp_path / "p.csv"), "--out", str(tmp_path / "syn")]) == 0
    run = resolve_config({"dataset": spec, "generate": {"folder": str(tmp_path / "syn")},
                          "vary": ["training", "synthetic"]})
    assert run.vary == ("training",)
    assert resolve_config({"dataset": spec}).vary == ("training", "synthetic", "subset")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc and ps")
def test_ctrl_c_during_a_cache_build_exits_130_cleanly(tmp_path, many_large):
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it) once the decoding workers
    run: exit 130 with the one interrupt line; no traceback, no "Exception ignored", no worker left."""
    proc = subprocess.Popen([sys.executable, "-m", "synaug.cli", "cache", "--dataset", f"imagefolder:{many_large}",
                             "--image-size", "80", "--cache-dir", str(tmp_path / "c"), "--workers", "2"],
                            env=SRC_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.time() + 120
    workers = []
    while time.time() < deadline and len(workers) < 2 and proc.poll() is None:
        time.sleep(0.05)
        workers = _children(proc.pid)
    assert proc.poll() is None, "the build ended before it could be interrupted"
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert "interrupted: re-run the same command to resume" in err
    time.sleep(0.5)
    assert not [w for w in workers if _alive(w)], "a decoding worker outlived the interrupted build"


def test_declared_generator_options_keep_job_keys():
    """Render's degrade and diffusion's options checked by their declared constraints: the jobs of
    stored runs keep their keys (pinned before the change), and a bad value never gets a key."""
    from synaug.errors import ConfigError
    from synaug.experiments.config import resolve_config
    render = {"dataset": "mnist-lt", "methods": ["synaug"], "generate": {"options": {"degrade": 0.5}}}
    diffusion = {"dataset": "mnist-lt", "methods": ["synaug"],
                 "generate": {"generator": "diffusion", "options": {"guidance": 7.5, "model": "x"}}}
    assert resolve_config(render).job("synaug", 0).key() == "43604c0cc46dca7f404a"
    assert resolve_config(diffusion).job("synaug", 0).key() == "dc97a6495f0c22d89a1e"
    with pytest.raises(ConfigError, match=r"^render option degrade: must be a number from 0 to 1, got 1.5$"):
        resolve_config({**render, "generate": {"options": {"degrade": 1.5}}})
