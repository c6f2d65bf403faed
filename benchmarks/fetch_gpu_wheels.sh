#!/usr/bin/env bash
# Download, here (where PyPI is reachable), the wheels benchmarks/gpu_check.sh needs on a GPU machine that
# has no network: diffusers is the only package the GPU image lacks (torch, torchvision, transformers,
# accelerate, safetensors, huggingface-hub, numpy, pillow, ... are there; docs/gpu-check.md). They go to
# .whl/ in the repository root, which this script adds to .git/info/exclude: carried, never committed.
#
#   bash benchmarks/fetch_gpu_wheels.sh      # then copy .whl/ to the GPU machine with the checkout
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
py="${PYTHON:-python3}"
# diffusers pinned to the version the tests run here; a pure-Python wheel, so one file serves any platform.
# --no-deps: its requirements (huggingface-hub >= 1.32, safetensors >= 0.8, regex, requests, filelock,
# numpy, Pillow) are in the GPU image already; importlib_metadata is only imported on Python < 3.8.
wheels=(diffusers==0.42.1)

exclude="$(git rev-parse --git-path info/exclude)"
mkdir -p "$(dirname "$exclude")"
grep -qxF '/.whl/' "$exclude" 2>/dev/null || echo '/.whl/' >> "$exclude"

"$py" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .whl "${wheels[@]}"
ls -l .whl/
total=$(du -cb .whl/*.whl | tail -1 | cut -f1)
echo "wheels: $((total / 1024 / 1024)) MiB (copy .whl/ to the GPU machine with the checkout)"
