"""gpu_check: what synaug does on one GPU, end to end, in one run (issue 21). Run it through
benchmarks/gpu_check.sh, which installs carried wheels first; docs/gpu-check.md says what it needs.

Stages (each writes its part of OUT/gpu_check.json as soon as it ends, so a run cut short keeps them):
1. generation: random-weight SD-Turbo, SD 1.5 and SDXL-Turbo built on the machine, `synaug generate`
   at each setting, the out-of-memory halving provoked once (a separate process: generation.py);
2. training: ResNet-32 from memory and ResNet-50 from the decoded cache through synaug's loop against
   their ceilings, eager and compiled (training.py);
3. a torch.profiler summary of the compiled ResNet-50 path (gpu_profile.py);
4. the optional compiled SD-Turbo run, if the time budget allows;
5. the projected GPU-hours of the paper's jobs from the measured rates (projection.py), and the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
import projection  # noqa: E402
import report  # noqa: E402
import settings  # noqa: E402

COMPILE_ESTIMATE_S = 150  # one torch.compile'd model, compiled and timed, on a 16-core host (earlier runs)


def environment() -> dict:
    import torch

    def version(name):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None
    cuda = torch.cuda.is_available()
    return {"device_name": torch.cuda.get_device_name(0) if cuda else f"CPU ({os.cpu_count()} cores)",
            "gpu_memory_gb": torch.cuda.get_device_properties(0).total_memory / 2**30 if cuda else None,
            "torch": torch.__version__, "diffusers": version("diffusers"), "transformers": version("transformers"),
            "python": platform.python_version(), "cpu_count": os.cpu_count(),
            "bf16": bool(cuda and torch.cuda.is_bf16_supported())}


class Budget:
    """Seconds left of the check's budget, counted from gpu_check.sh's start (GPU_CHECK_T0)."""

    def __init__(self, limit_s: float | None):
        self.t0 = float(os.environ.get("GPU_CHECK_T0", time.time()))
        self.limit = limit_s

    def elapsed(self) -> float:
        return time.time() - self.t0

    def allows(self, estimate_s: float) -> bool:
        return self.limit is None or self.elapsed() + estimate_s <= self.limit


def run_generation(work: Path, tiny: bool, compiled: bool, log: Path) -> dict:
    result = work / ("generation-compiled.json" if compiled else "generation.json")
    cmd = [sys.executable, str(HERE / "generation.py"), "--work", str(work), "--result", str(result)]
    cmd += ["--tiny"] * tiny + ["--compiled"] * compiled
    with open(log, "a") as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
    if proc.returncode != 0 or not result.is_file():
        tail = log.read_text()[-3000:]
        raise RuntimeError(f"generation.py exited with {proc.returncode}; end of {log}:\n{tail}")
    return json.loads(result.read_text())


def stage(result: dict, key: str, fn, errors: list):
    """Run one stage; an error is recorded (and the run goes on) so the other stages still report."""
    try:
        result[key] = fn()
    except Exception as exc:  # noqa: BLE001
        errors.append(f"{key}: {type(exc).__name__}: {exc}")
        result[key] = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-3000:]}


def train_stage(tiny: bool, work: Path, device, budget: Budget) -> dict:
    import training

    s = settings.training(tiny)
    out = {"cifar_memory": training.cifar_from_memory(s["cifar"], device), "large_cache": {}}
    large = out["large_cache"]
    large["eager"] = training.large_from_cache(s["large"], work / "cache", device, compile=False)
    large["small_batch"] = training.large_from_cache(s["large"], work / "cache", device, compile=False,
                                                     batch=s["large"]["small_batch"], with_ceiling=False)
    if tiny or device.type != "cuda":
        large["compiled"] = {"skipped": "tiny mode / no CUDA: torch.compile is measured on the GPU only"}
    elif budget.allows(COMPILE_ESTIMATE_S):
        large["compiled"] = training.large_from_cache(s["large"], work / "cache", device, compile=True)
    else:
        large["compiled"] = {"skipped": f"time budget ({budget.elapsed():.0f} s used)"}
    return out


def profile_stage(tiny: bool, work: Path, out_dir: Path, device, compiled_ran: bool) -> dict:
    from gpu_profile import profile_large

    return profile_large(settings.training(tiny)["large"], work / "cache", device, compile=compiled_ran,
                         trace_out=out_dir / "profile_trace.json.gz")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="gpu_check.json, gpu_check.txt, the profile trace")
    p.add_argument("--work", type=Path, default=None, help="models, plans, images, caches (default OUT/../work)")
    p.add_argument("--tiny", action="store_true", help="tiny models and runs: seconds on a CPU (the test)")
    p.add_argument("--budget-s", type=float, default=None,
                   help="skip the optional compiled runs past this many seconds (default $GPU_CHECK_BUDGET_S or 450; "
                        "none in tiny mode)")
    args = p.parse_args()
    import torch

    budget = Budget(None if args.tiny else (args.budget_s or float(os.environ.get("GPU_CHECK_BUDGET_S", 450))))
    args.out.mkdir(parents=True, exist_ok=True)
    work = args.work or Path(os.environ.get("GPU_CHECK_WORK", "/tmp/gpu-check-work"))
    work.mkdir(parents=True, exist_ok=True)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if args.tiny and device.type == "cpu":
        torch.set_num_threads(1)  # tiny ops on a shared CPU: thread hand-offs cost more than the work
    result = {"mode": "tiny" if args.tiny else "full", "environment": environment(), "errors": []}
    errors = result["errors"]

    def save():
        result["elapsed_s"] = budget.elapsed()
        (args.out / "gpu_check.json").write_text(json.dumps(result, indent=2, default=str) + "\n")

    log = args.out / "generation.log"
    stage(result, "generation", lambda: run_generation(work, args.tiny, False, log), errors)
    result["random_sd"] = result["generation"].pop("random_sd", {})
    save()
    stage(result, "training", lambda: train_stage(args.tiny, work, device, budget), errors)
    save()
    compiled = "loop_images_per_s" in result["training"].get("large_cache", {}).get("compiled", {})
    stage(result, "profile", lambda: profile_stage(args.tiny, work, args.out, device, compiled), errors)
    save()
    gen = result["generation"]
    optional = settings.compiled_run(args.tiny, device.type == "cuda")
    if args.tiny or device.type != "cuda":
        gen.setdefault("skipped", []).append({"name": optional["name"], "reason": "tiny mode / no CUDA"})
    elif budget.allows(COMPILE_ESTIMATE_S) and "runs" in gen:
        stage(gen, "compiled", lambda: run_generation(work, False, True, log)["runs"], errors)
    else:
        gen.setdefault("skipped", []).append({"name": optional["name"],
                                             "reason": f"time budget ({budget.elapsed():.0f} s used)"})
    runs = gen.get("runs", []) + (gen["compiled"] if isinstance(gen.get("compiled"), list) else [])
    stage(result, "projection", lambda: projection.project(runs, result.get("training", {})), errors)
    result["targets"] = report.targets(result)
    save()
    text = report.render(result)
    (args.out / "gpu_check.txt").write_text(text + "\n")
    print(text)
    if errors:
        print("\nerrors:\n  " + "\n  ".join(errors), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
