"""torch.profiler over a few steps of the compiled ResNet-50 path from the cache (eager on a CPU), to
locate what separates `fit` from the model's own ceiling: the top operators by device and by host time,
and the share of the profiled steps during which the GPU ran nothing (no kernel, copy or memset).
The Chrome trace is kept (gzipped) for chrome://tracing or https://ui.perfetto.dev."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile, schedule

from synaug.training.loop import Callback
from training import large_from_cache

GPU_EVENT_CATEGORIES = {"kernel", "gpu_memcpy", "gpu_memset"}
WAIT, WARMUP = 1, 1


class StepProfiler(Callback):
    """Advances the profiler's schedule at the end of every training step."""

    def __init__(self, prof):
        self.prof = prof

    def on_step_end(self, state, done):
        self.prof.step()


def busy_time(intervals: list[tuple[float, float]], lo: float, hi: float) -> float:
    """Length of the union of [start, end) intervals clipped to [lo, hi)."""
    total, reach = 0.0, lo
    for start, end in sorted(intervals):
        start, end = max(start, reach), min(end, hi)
        if end > start:
            total += end - start
            reach = end
    return total


def gpu_idle_share(trace: dict) -> dict | None:
    """Share of the profiled steps' wall time with no GPU activity, from a Chrome trace."""
    events = [e for e in trace.get("traceEvents", []) if e.get("ph") == "X"]
    steps = [e for e in events if str(e.get("name", "")).startswith("ProfilerStep#")]
    gpu = [e for e in events if e.get("cat") in GPU_EVENT_CATEGORIES]
    if not steps or not gpu:
        return None
    lo = min(e["ts"] for e in steps)
    hi = max(e["ts"] + e["dur"] for e in steps)
    spans = lambda evs: [(e["ts"], e["ts"] + e["dur"]) for e in evs]  # noqa: E731
    busy = busy_time(spans(gpu), lo, hi)
    copies = [e for e in gpu if e.get("cat") == "gpu_memcpy"]
    return {"window_ms": (hi - lo) / 1e3, "gpu_busy_ms": busy / 1e3, "gpu_idle_share": 1 - busy / (hi - lo),
            "memcpy_ms": busy_time(spans(copies), lo, hi) / 1e3, "steps": len(steps)}


def top_ops(prof, key: str, n: int = 12) -> list[dict]:
    rows = []
    for e in prof.key_averages():
        value = getattr(e, key, 0) or 0
        if value > 0:
            rows.append({"name": e.key, "ms": value / 1e3, "calls": e.count})
    return sorted(rows, key=lambda r: -r["ms"])[:n]


def profile_large(s: dict, work: Path, device: torch.device, compile: bool, trace_out: Path | None) -> dict:
    cuda = device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    active = s["profile_steps"]
    steps = dict(s, steps=WAIT + WARMUP + active, warm_steps=s["warm_steps"])
    raw = work / "trace.json"
    with profile(activities=activities, schedule=schedule(wait=WAIT, warmup=WARMUP, active=active, repeat=1),
                 on_trace_ready=lambda p: p.export_chrome_trace(str(raw))) as prof:
        run = large_from_cache(steps, work, device, compile=compile, with_ceiling=False,
                               callbacks=[StepProfiler(prof)])
    averages = prof.key_averages()
    # PyTorch >= 2.4 names it self_device_time_total; older releases self_cuda_time_total
    device_key = "self_device_time_total" if averages and hasattr(averages[0], "self_device_time_total") \
        else "self_cuda_time_total"
    out = {"model": s["model"], "compile": compile, "active_steps": active, "loop_images_per_s_while_profiled": run["loop_images_per_s"],
           "top_device_ops": top_ops(prof, device_key) if cuda else [],
           "top_host_ops": top_ops(prof, "self_cpu_time_total"),
           "idle": gpu_idle_share(json.loads(raw.read_text())) if raw.is_file() else None}
    if raw.is_file() and trace_out is not None:
        with open(raw, "rb") as src, gzip.open(trace_out, "wb") as dst:
            shutil.copyfileobj(src, dst)
        out["trace"] = trace_out.name
        if trace_out.stat().st_size > 15 * 2**20:  # small enough to copy back from any machine (16 MiB)
            trace_out.unlink()
            out["trace"] = None
    return out
