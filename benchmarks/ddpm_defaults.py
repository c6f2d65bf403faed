"""Settling the `ddpm` fit's defaults by CAS per CPU-minute (issue 30): fits on a dataset's pretrain split
that differ from `FitSettings()` in one setting each (steps, width, EMA), and the default fit sampled at
several guidance weights; for each, the fit's wall time and CPU time on `--threads` threads, the
Classification Accuracy Score next to the same classifier trained on as many real images, the Fréchet
distance, and CAS points per minute of fitting.

    PYTHONPATH=src python benchmarks/ddpm_defaults.py --dataset mnist-lt --out DIR [--variants default,steps1000]
        [--guidance 1,2,3] [--json FILE]

Each variant fits into DIR/<variant>/ (a finished fit there is reused, and its times are read back from
DIR/<variant>/timing.json, written when it was fitted). Quality: `sample_cells` + `image_quality`, as
`synaug fit-generator` measures it (100 images per cell, 25 DDIM steps, a CAS classifier of 300 steps),
at guidance 2 for every variant and at each `--guidance` weight for the default fit. Run it alone: the
times are only meaningful on otherwise idle cores (the load average is recorded beside them).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace
from pathlib import Path

import torch

from synaug.audit.quality import QualityConfig, QualityMeter
from synaug.data import load_dataset
from synaug.engine.fit_quality import SampleSettings, sample_cells
from synaug.fileio import write_json
from synaug.generators.ddpm_fit import fit_generator
from synaug.generators.ddpm_settings import FitSettings

# variant -> the FitSettings fields it changes (one setting each, against the defaults)
VARIANTS = {
    "default": {},
    "steps1000": {"steps": 1000},
    "steps4000": {"steps": 4000},
    "width48-96": {"arch_options": {"channels": [48, 96]}},
    "ema0.9995": {"ema_decay": 0.9995},
}


def fitted(name: str, splits, out: Path) -> dict:
    """Fit variant `name` into OUT/name (or reuse it) -> its timing record."""
    folder, timing = out / name, out / name / "timing.json"
    if timing.is_file():
        return json.loads(timing.read_text())
    settings = replace(FitSettings(device="cpu"), **VARIANTS[name])
    wall, cpu = time.perf_counter(), time.process_time()
    fit_generator(splits.pretrain, folder, settings, test=splits.test, pool_name="pretrain", progress=False)
    record = {"variant": name, "settings": settings.recorded(), "fit_wall_s": round(time.perf_counter() - wall, 1),
              "fit_cpu_s": round(time.process_time() - cpu, 1), "load_average": os.getloadavg()[0]}
    write_json(timing, record)
    return record


def quality(folder: Path, pool, meter: QualityMeter, guidance: float) -> dict:
    samples = sample_cells(folder, pool, SampleSettings(guidance=guidance, device="cpu", measure=meter.cfg))
    record = meter.measure(samples)
    return {"guidance": guidance, "cas": record["cas"]["accuracy"], "real": record["real_score"]["accuracy"],
            "cas_ratio": record["cas_ratio"], "fd": record["frechet_distance"], "fd_real": record["frechet_distance_real"],
            "copy_rate": record["copy_rate"]}


def row(timing: dict, q: dict) -> dict:
    minutes = timing["fit_wall_s"] / 60
    return {**timing, **q, "fit_min": round(minutes, 2), "cas_per_fit_min": round(q["cas"] / minutes, 2)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="mnist-lt")
    p.add_argument("--out", required=True, help="one folder per variant's fit (kept: a rerun reuses them)")
    p.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {list(VARIANTS)}")
    p.add_argument("--guidance", default="1,2,3", help="guidance weights measured on the default fit")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    splits, out = load_dataset(args.dataset), Path(args.out)
    names = [v for v in args.variants.split(",") if v]
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        p.error(f"unknown variant(s) {unknown}; choose from {list(VARIANTS)}")
    meter = QualityMeter(splits.pretrain, splits.test, QualityConfig(steps=300, device="cpu"))  # real score once
    rows = []
    for name in names:
        timing = fitted(name, splits, out)
        weights = [float(g) for g in args.guidance.split(",")] if name == "default" else [2.0]
        for g in weights:
            rows.append(row(timing, quality(out / name, splits.pretrain, meter, g)))
            r = rows[-1]
            cpu = "n/a" if r.get("fit_cpu_s") is None else f"{r['fit_cpu_s'] / 60:.1f} min"
            print(f"{args.dataset} {name:11s} w={g:g}: fit {r['fit_min']:.1f} min (cpu {cpu}, "
                  f"load {r['load_average']:.1f}); CAS {r['cas']:.1f} % vs real {r['real']:.1f} % (ratio "
                  f"{r['cas_ratio']:.3f}); FD {r['fd']:.3f} (real {r['fd_real']:.3f}); CAS per fit-minute "
                  f"{r['cas_per_fit_min']:.1f}", flush=True)
            if args.json:  # after every row: an interrupted sweep keeps what it measured
                write_json(Path(args.json), {"dataset": args.dataset, "torch": torch.__version__, "rows": rows})


if __name__ == "__main__":
    main()
