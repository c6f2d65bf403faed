"""RUN/preprocess.json: what a trained model expects of an image, so it can be used without synaug.

synaug evaluates a model on images that were decoded and made square in the image cache
(`synaug.data.cache`: `resize` shorter-side or squash, to `image_size`), centre-cropped to
`crop_size`, scaled to [0, 1] and standardised with `mean` / `std`. The record says each of these
and the class names in label order; `steps` spells the same pipeline in torchvision's transforms.v2
functional calls, which reproduce synaug's pixels exactly (the cache uses the same decoder and the
same antialiased bilinear resize). Images held in memory (<= 64 px) were resized by the reader
(PIL bilinear, squashed to the dataset's most common size), and the record says so.
"""

from __future__ import annotations

from synaug.data.imageset import CachedImages, ImageSet
from synaug.training.augment import Normalize

PREPROCESS = "preprocess.json"


def preprocess_record(cfg, real: ImageSet, normalize: Normalize, head: str = "linear") -> dict:
    """The record of a run trained with `cfg` (a TrainConfig) on `real` (its training images as
    trained, at the cache side)."""
    side, _, channels = real.image_shape
    cached = isinstance(real.images, CachedImages)
    crop = min(cfg.crop_size or side, side)
    record = {"resize": cfg.resize if cached else "squash", "image_size": int(side), "crop_size": int(crop),
              "channels": int(channels), **normalize.state(), "class_names": list(real.class_names),
              "model": cfg.model, "head": head, "interpolation": "bilinear, antialiased",
              "decoded_by": "torchvision.io.decode_image (synaug's image cache)" if cached else
              "PIL, by the dataset reader (images <= 64 px are held in memory, squashed to the reader's size)"}
    record["steps"] = torchvision_steps(record)
    return record


def torchvision_steps(record: dict) -> list[str]:
    """The record's pipeline as torchvision.transforms.v2.functional calls (F), in order."""
    side, crop = record["image_size"], record["crop_size"]
    mode = "GRAY" if record["channels"] == 1 else "RGB"
    size = f"{side}" if record["resize"] == "shorter-side" else f"[{side}, {side}]"
    return [f"img = torchvision.io.decode_image(path, mode=torchvision.io.ImageReadMode.{mode})",
            f"img = F.resize(img, {size}, antialias=True)  # resize: {record['resize']}",
            f"img = F.center_crop(img, [{side}, {side}])  # the square the cache holds",
            f"img = F.center_crop(img, [{crop}, {crop}])  # the evaluation view",
            "x = F.normalize(F.to_dtype(img, torch.float32, scale=True), mean, std)"]
