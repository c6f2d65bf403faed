"""Generation through synaug's own path: random-weight SD folders (benchmarks/random_sd.py), a plan made
by `synaug plan` from a small image folder written here, then `synaug generate` (synaug.cli.main, the
function the `synaug` command runs) once per setting, all in this one process so imports are paid once.

images/s is read off the images on disk: each runner batch ends when its last PNG is written (atomic
rename keeps the write time), so the rate over batches 2..n leaves out loading and the warm-up batch and
includes everything the real path does per image (pipeline, PIL conversion, resize, PNG, metadata).

    python benchmarks/gpu_check/generation.py --work DIR --result FILE [--tiny] [--compiled]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import gc
import io
import json
import logging
import math
import sys
import time
import traceback
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
import settings  # noqa: E402
from random_sd import build_random_sd  # noqa: E402

PLAN_CLASSES = ("cat", "dog")
REAL_PER_CLASS = 4


def build_models(work: Path, archs, tiny: bool) -> dict:
    """One folder per architecture, built once per work folder (the compiled run reuses them)."""
    reports = {}
    for arch in archs:
        folder = work / "models" / arch
        if (folder / "random_sd.json").is_file():
            reports[arch] = json.loads((folder / "random_sd.json").read_text())
            continue
        # fp16 on disk, as the published *.fp16.safetensors; a run asking for bf16 converts on load
        reports[arch] = build_random_sd(arch, folder, tiny=tiny, dtype="fp16")
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()  # else the builders' cached blocks would count in the first run's peak memory
    return reports


def real_folder(work: Path) -> Path:
    """An ImageFolder of 32 px images (CIFAR's size): the plan's dataset; synthetic images are saved at 32 px."""
    from PIL import Image

    root = work / "real"
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for name in PLAN_CLASSES:
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for i in range(REAL_PER_CLASS):
                Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root / split / name / f"{i}.png")
    return root


def make_plan(work: Path, n: int) -> Path:
    """`synaug plan` adding n images (split over the two classes) to the real folder."""
    from synaug import cli

    path = work / "plans" / f"plan-{n}.csv"
    if not path.is_file():
        root = real_folder(work)
        final = {str(c): REAL_PER_CLASS + math.ceil(n / 2) - c * (n % 2) for c in range(2)}  # adds n in all
        argv = ["plan", "--dataset", f"imagefolder:{root}", "--strategy", json.dumps(final),
                "--template", "a photo of {modifier} {class}", "--generator", "diffusion", "--out", str(path)]
        with contextlib.redirect_stdout(io.StringIO()):
            if cli.main(argv) != 0:
                raise RuntimeError(f"synaug {' '.join(argv)} failed")
    return path


class OomLog(logging.Handler):
    """Collects diffusion.py's 'out of memory at batch N: continuing with batch M' warnings."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record):
        if "out of memory" in record.getMessage():
            self.messages.append(record.getMessage())


def steady_rate(out: Path, plan: Path, batch: int) -> float | None:
    """Images/s over runner batches 2..n, from the PNGs' modification times."""
    with open(plan, newline="") as f:
        names = [row["file_name"] for row in csv.DictReader(f)]
    ends = [max((out / n).stat().st_mtime_ns for n in names[k:k + batch]) for k in range(0, len(names), batch)]
    if len(ends) < 2 or ends[-1] <= ends[0]:
        return None
    return (len(names) - batch) / ((ends[-1] - ends[0]) / 1e9)


def generate_argv(run: dict, plan: Path, out: Path, model: Path) -> list[str]:
    argv = ["generate", "--plan", str(plan), "--out", str(out), "--generator", "diffusion", "--generator-model", str(model),
            "--no-safety-checker", "--sampling-steps", str(run["steps"]), "--guidance", str(run["guidance"]),
            "--gen-size", str(run["gen_size"]), "--dtype", run["dtype"], "--batch-size", str(run["batch"])]
    if run.get("scheduler"):
        argv += ["--scheduler", run["scheduler"]]
    if run.get("compile"):
        argv += ["--compile"]
    return argv


def run_one(run: dict, work: Path, cap_bytes: int | None = None) -> dict:
    """One `synaug generate`; returns what it measured (or the error, and the run goes on to the next)."""
    import torch
    from synaug import cli

    cuda = torch.cuda.is_available()
    n = run["batch"] * run["batches"]
    plan = make_plan(work, n)
    out = work / "generated" / run["name"].replace(" ", "-")
    record = {k: run[k] for k in ("name", "arch", "steps", "guidance", "dtype", "batch", "gen_size")}
    record.update(images=n, scheduler_option=run.get("scheduler"), compile=bool(run.get("compile")))
    oom = OomLog()
    logging.getLogger("synaug.generators.diffusion").addHandler(oom)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
        if cap_bytes:
            torch.cuda.set_per_process_memory_fraction(cap_bytes / torch.cuda.get_device_properties(0).total_memory)
    t0 = time.perf_counter()
    try:
        rc = cli.main(generate_argv(run, plan, out, work / "models" / run["arch"]))
        record["rc"] = rc
    except Exception as exc:  # noqa: BLE001 - one failing setting must not hide the others' numbers
        record.update(rc=None, error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc()[-2000:])
    record["wall_s"] = time.perf_counter() - t0  # loading and warm-up included
    logging.getLogger("synaug.generators.diffusion").removeHandler(oom)
    if cuda:
        record.update(peak_allocated_gb=torch.cuda.max_memory_allocated() / 2**30,
                      peak_reserved_gb=torch.cuda.max_memory_reserved() / 2**30,
                      peak_reserved_bytes=torch.cuda.max_memory_reserved())
        torch.cuda.set_per_process_memory_fraction(1.0)
    record["oom_events"] = oom.messages
    meta = out / "metadata.csv"
    if record.get("rc") == 0 and meta.is_file():
        with open(meta, newline="") as f:
            rows = list(csv.DictReader(f))
        record.update(written=len(rows), scheduler=rows[0]["scheduler"] if rows else None,
                      images_per_s=steady_rate(out, plan, run["batch"]))
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
    return record


def oom_check(work: Path, tiny: bool, measured: list[dict]) -> dict:
    """The out-of-memory halving, exercised: a batch 4x what fits under a cap equal to the memory the
    normal run of the same model needed. Without CUDA there is no cap to hit: the run is made, and
    reported as not triggered."""
    import torch

    run = settings.oom_run(tiny, torch.cuda.is_available())
    ref = next((r for r in measured if r["name"] == run["cap_from"] and r.get("peak_reserved_bytes")), None)
    cap = ref["peak_reserved_bytes"] if (ref and torch.cuda.is_available()) else None
    record = run_one(run, work, cap_bytes=cap)
    halvings = [int(m.rsplit(" ", 1)[-1]) for m in record["oom_events"]]
    record.update(cap_gb=cap / 2**30 if cap else None, triggered=bool(halvings),
                  batch_after_halving=halvings[-1] if halvings else None,
                  note=None if cap else "no CUDA: no memory cap to run into; the halving path is tested by "
                                        "tests/test_diffusion.py")
    return record


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--result", type=Path, required=True)
    p.add_argument("--tiny", action="store_true")
    p.add_argument("--compiled", action="store_true", help="only the optional compiled run")
    args = p.parse_args()
    import torch

    cuda = torch.cuda.is_available()
    if args.tiny and not cuda:
        torch.set_num_threads(1)  # tiny ops on a shared CPU: thread hand-offs cost more than the work
    runs = [settings.compiled_run(args.tiny, cuda)] if args.compiled else settings.generation_runs(args.tiny, cuda)
    t0 = time.perf_counter()
    models = build_models(args.work, sorted({r["arch"] for r in runs}), args.tiny)
    result = {"random_sd": models, "build_s": time.perf_counter() - t0, "runs": []}
    for run in runs:
        result["runs"].append(run_one(run, args.work))
        print(f"[generation] {run['name']}: {result['runs'][-1].get('images_per_s')} images/s", flush=True)
    if not args.compiled:
        result["oom"] = oom_check(args.work, args.tiny, result["runs"])
    turbo = args.work / "models" / "sd-turbo" / "scheduler" / "scheduler_config.json"
    if turbo.is_file():
        result["sd_turbo_scheduler"] = {k: json.loads(turbo.read_text()).get(k)
                                        for k in ("_class_name", "timestep_spacing", "prediction_type")}
    args.result.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
