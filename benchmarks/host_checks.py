"""Host-side costs that grow with a run's size, outside the model's compute: the test-image
bootstrap's metric call (`synaug.eval.scoring.metrics_of`, run once per resample and run: 1,000
resamples x rows x seeds) and `generate`'s check that every plan path stays in its folder
(`check_plan_paths`, once per call, 40,000 names for a paper-scale plan).

    PYTHONPATH=src python benchmarks/host_checks.py [--rounds 5]

Each number is the best of `--rounds` rounds (other processes only slow a round down); run it alone.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from synaug.eval.scoring import Scoring, metrics_of
from synaug.generators.runner import check_plan_paths
from synaug.plans import build_plan
from synaug.prompts import load_bank


def best_of(rounds: int, fn) -> float:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def scoring(n: int, classes: int, groups: int | None, rng) -> tuple[Scoring, np.ndarray]:
    """A test split of n images with a classifier right 80 % of the time."""
    labels = rng.integers(0, classes, n)
    pred = np.where(rng.random(n) < 0.8, labels, rng.integers(0, classes, n))
    g = None if groups is None else rng.integers(0, groups, n)
    cells = labels if g is None else labels * groups + g
    n_cells = classes * (groups or 1)
    counts = np.array([500, 50, 5, 100, 20, 10, 300, 3, 200, 40][:classes])
    return Scoring(labels, g, cells, classes, tuple(map(str, range(n_cells))),
                   None if g is None else tuple(map(str, range(groups))), counts,
                   None if g is None else rng.integers(0, n_cells, 2000)), pred


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    for name, n, classes, groups in (("fairness, 500 test images, 2 classes x 4 groups", 500, 2, 4),
                                     ("spurious, 5,794 test images (Waterbirds' size), 2 x 2", 5794, 2, 2),
                                     ("long tail, 1,000 test images, 10 classes", 1000, 10, None)):
        s, pred = scoring(n, classes, groups, rng)
        draws = [rng.integers(0, n, n) for _ in range(100)]
        t = best_of(args.rounds, lambda: [metrics_of(s.subset(i), pred[i]) for i in draws])
        print(f"metrics_of per resample, {name}: {t / len(draws) * 1e3:.3f} ms")
    item = build_plan({0: 1}, ["0"], load_bank("mnist-lt"), 0)[0]
    items = [replace(item, file_name=f"c{i % 100}/{i:06d}.png") for i in range(40_000)]
    with tempfile.TemporaryDirectory() as d:
        t = best_of(args.rounds, lambda: check_plan_paths(items, Path(d)))
    print(f"check_plan_paths, 40,000 names in 100 folders: {t:.2f} s")


if __name__ == "__main__":
    main()
