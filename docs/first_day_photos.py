"""Build the long-tailed photo folder of docs/first-day.md, offline and reproducibly.

Crops of scikit-image's bundled sample photos (no download), one photo per class: training crops
from the left 65 % of each photo, test crops from the right 35 % (other pixels), 96 x 128 or
128 x 96 px JPEGs (not square, as photos are). Classes take a seeded head-to-tail order with
`round(HEAD * (1/IF) ** (k/7))` training images for the k-th (200 ... 4 by default: imbalance 50).

    python docs/first_day_photos.py photos [--head 200] [--imbalance 50] [--test 60] [--seed 32]

The folder is written beside itself under a temporary name and renamed when complete, so an
interrupted build never leaves half a dataset; an existing folder is refused.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
import skimage.data as sk
from PIL import Image


def photos() -> dict[str, np.ndarray]:
    """The class name -> its RGB photo (all in scikit-image's wheel, so the build is offline)."""
    return {"astronaut": sk.astronaut(), "cat": sk.chelsea(), "coffee cup": sk.coffee(),
            "rocket": sk.rocket(), "galaxy": sk.hubble_deep_field(),
            "motorcycle": sk.stereo_motorcycle()[0], "retina": sk.retina(),
            "brick wall": np.stack([sk.brick()] * 3, axis=-1)}


def crop(img: np.ndarray, x0: int, x1: int, rng: np.random.Generator) -> Image.Image:
    """A random box inside columns [x0, x1) of the photo, resized to 96 px on its shorter side."""
    height = img.shape[0]
    side = int(rng.uniform(0.35, 0.6) * min(height, x1 - x0))
    tall = rng.random() < 0.5
    h, w = (int(side * 4 / 3), side) if tall else (side, int(side * 4 / 3))
    h, w = min(h, height), min(w, x1 - x0)
    y, x = rng.integers(0, height - h + 1), rng.integers(x0, x1 - w + 1)
    return Image.fromarray(img[y:y + h, x:x + w]).resize((96, 128) if tall else (128, 96), Image.BICUBIC)


def build(root: Path, head: int, imbalance: float, test: int, seed: int) -> dict[str, int]:
    """Write ROOT/train/<class>/*.jpg (long-tailed) and ROOT/test/<class>/*.jpg; the training counts."""
    rng = np.random.default_rng(seed)
    images = photos()
    names = list(images)
    order = rng.permutation(len(names))  # which class is head, which tail
    counts = {names[c]: round(head * (1 / imbalance) ** (rank / (len(names) - 1)))
              for rank, c in enumerate(order)}
    for split in ("train", "test"):
        for name in (names[c] for c in order):
            img = images[name]
            width = img.shape[1]
            x0, x1 = (0, int(0.65 * width)) if split == "train" else (int(0.65 * width), width)
            out = root / split / name
            out.mkdir(parents=True)
            for i in range(counts[name] if split == "train" else test):
                crop(img, x0, x1, rng).save(out / f"{split}_{i:04d}.jpg", quality=92)
    return counts


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("root", type=Path, help="the folder to create (must not exist)")
    ap.add_argument("--head", type=int, default=200, help="training images of the largest class")
    ap.add_argument("--imbalance", type=float, default=50.0, help="largest / smallest class")
    ap.add_argument("--test", type=int, default=60, help="test images per class")
    ap.add_argument("--seed", type=int, default=32)
    args = ap.parse_args(argv)
    if args.root.exists():
        print(f"error: {args.root} exists; give a new folder", file=sys.stderr)
        return 2
    if args.head < 1 or args.test < 1 or args.imbalance < 1 or round(args.head / args.imbalance) < 1:
        print("error: --head and --test must be >= 1, --imbalance >= 1 and at most --head", file=sys.stderr)
        return 2
    partial = args.root.with_name(args.root.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)  # a previous interrupted build of this script
    counts = build(partial, args.head, args.imbalance, args.test, args.seed)
    partial.rename(args.root)
    print(f"{args.root}: train " + ", ".join(f"{k} {v}" for k, v in counts.items())
          + f" ({sum(counts.values())} images); test {args.test} per class ({args.test * len(counts)} images)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
