"""GPU-hours of the paper's jobs from this run's measured rates: images to generate / generation rate +
images to train on / training rate (stage 1 and stage 2), one GPU, nothing else counted (loading,
evaluation, the decode into the cache are minutes, not hours)."""

from __future__ import annotations

from settings import projection_rows


def best_rate(runs: list[dict], prefix: str) -> tuple[float | None, str | None]:
    """The highest measured images/s among generation runs whose name starts with `prefix`."""
    rated = [r for r in runs if r["name"].startswith(prefix) and r.get("images_per_s")]
    if not rated:
        return None, None
    best = max(rated, key=lambda r: r["images_per_s"])
    return best["images_per_s"], best["name"]


def training_rates(training: dict) -> dict[str, tuple[float | None, str]]:
    """{model at a batch: (images/s of synaug's loop, which measurement)} for the rows' models."""
    cifar = {r["batch"]: r for r in training.get("cifar_memory", [])}
    large = training.get("large_cache", {})
    big = [v for k, v in large.items() if k in ("eager", "compiled") and v.get("loop_images_per_s")]
    best_big = max(big, key=lambda v: v["loop_images_per_s"]) if big else None
    small = large.get("small_batch", {})
    first = min(cifar) if cifar else None
    return {
        "resnet32": (cifar[first]["loop_images_per_s"] if first else None, f"ResNet-32 loop, batch {first}"),
        "resnet50": (best_big["loop_images_per_s"] if best_big else None,
                     f"ResNet-50 loop from the cache, batch {best_big['batch']}"
                     f"{' compiled' if best_big and best_big['compile'] else ''}" if best_big else "-"),
        "resnet50_small": (small.get("loop_images_per_s"), f"ResNet-50 loop from the cache, batch {small.get('batch')}"),
    }


def hours(images: float, rate: float | None) -> float | None:
    return images / rate / 3600 if rate else None


def project(generation: list[dict], training: dict) -> dict:
    turbo, turbo_run = best_rate(generation, "sd-turbo 4 steps")
    sd15, sd15_run = best_rate(generation, "sd15 25 steps")
    rates = training_rates(training)
    rows = []
    for job in projection_rows():
        key = job["model"]
        if key == "resnet50" and job["batch"] <= 64 and rates["resnet50_small"][0]:
            key = "resnet50_small"  # DFR's batch 32: the small-batch measurement, not the batch-256 one
        rate, source = rates[key]
        train_h = hours(job["train_images"] + job["stage2_images"], rate)
        gen_turbo, gen_sd15 = hours(job["synthetic"], turbo), hours(job["synthetic"], sd15)
        rows.append(dict(job, train_rate=rate, train_rate_source=source, gen_gpu_h_sd_turbo=gen_turbo,
                         gen_gpu_h_sd15=gen_sd15, train_gpu_h=train_h,
                         total_gpu_h_sd_turbo=None if None in (gen_turbo, train_h) else gen_turbo + train_h,
                         total_gpu_h_sd15=None if None in (gen_sd15, train_h) else gen_sd15 + train_h))
    return {"rates": {"sd_turbo_4_steps": turbo, "sd_turbo_4_steps_run": turbo_run, "sd15_25_steps": sd15,
                      "sd15_25_steps_run": sd15_run}, "rows": rows}
