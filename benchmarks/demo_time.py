"""Wall time of `synaug demo` (one seed, defaults) from a fresh output folder, median of N runs.
Includes dataset loading, planning, rendering the synthetic images, three trainings and the report.

    python benchmarks/demo_time.py [--runs 3] [-- extra demo args]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("extra", nargs="*", help="extra arguments for synaug demo")
    args = ap.parse_args()
    Path(".bench-tmp").mkdir(exist_ok=True)
    times = []
    for i in range(args.runs):
        out = Path(tempfile.mkdtemp(dir=".bench-tmp"))
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "synaug.cli", "demo", "--quiet", "--out", str(out / "demo"),
                        *args.extra], check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t)
        print(f"run {i + 1}: {times[-1]:.1f} s", flush=True)
        shutil.rmtree(out)
    print(f"synaug demo {' '.join(args.extra)}: median {statistics.median(times):.1f} s over {len(times)} runs "
          f"(min {min(times):.1f}, max {max(times):.1f})")


if __name__ == "__main__":
    main()
