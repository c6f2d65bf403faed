"""Group phrases with a visual meaning, shared by the embedded group datasets and the renderer:
colour tints (a sensitive attribute for `mnist-fair`) and real background textures from
scikit-image (the spurious place for `fashion-spurious`)."""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image, ImageColor

from synaug.errors import DatasetError

TEXTURES = ("grass", "brick", "gravel")  # skimage.data: 512x512 grayscale photographs, no download


def tint_rgb(name: str) -> np.ndarray:
    """A CSS colour name as an RGB multiplier whose brightest channel is 1 ('green' -> (0, 1, 0))."""
    try:
        rgb = np.array(ImageColor.getrgb(name)[:3], dtype=np.float32)
    except ValueError as exc:
        raise DatasetError(f"unknown colour {name!r} (use a CSS colour name)") from exc
    return rgb / max(rgb.max(), 1.0)


def is_colour(name: str) -> bool:
    try:
        ImageColor.getrgb(name)
        return True
    except ValueError:
        return False


def apply_tint(gray: np.ndarray, name: str) -> np.ndarray:
    """(..., H, W, 1) uint8 grayscale -> (..., H, W, 3) uint8 tinted."""
    return np.clip(gray.astype(np.float32) * tint_rgb(name) + 0.5, 0, 255).astype(np.uint8)


@functools.lru_cache(maxsize=8)
def texture(name: str, scale: int = 4) -> np.ndarray:
    """A scikit-image texture, downscaled `scale`x so its pattern is visible in 28 px crops, as float
    intensities in [0, 1] stretched to the 2nd-98th percentiles."""
    if name not in TEXTURES:
        raise DatasetError(f"unknown background {name!r}; available: {TEXTURES}")
    try:
        from skimage import data as skdata
    except ImportError as exc:  # pragma: no cover - scikit-image is a core dependency
        raise DatasetError("background textures need scikit-image (pip install scikit-image)") from exc
    img = getattr(skdata, name)()
    img = np.asarray(Image.fromarray(img).resize((img.shape[1] // scale, img.shape[0] // scale), Image.BILINEAR),
                     dtype=np.float32)
    lo, hi = np.percentile(img, [2, 98])
    return np.clip((img - lo) / max(hi - lo, 1e-6), 0, 1)


def background_patches(name: str, n: int, size: int, rng: np.random.Generator, level: float = 0.55) -> np.ndarray:
    """n random crops (size x size) of a texture, as float intensities in [0, level]."""
    tex = texture(name)
    ys = rng.integers(0, tex.shape[0] - size, n)
    xs = rng.integers(0, tex.shape[1] - size, n)
    return np.stack([tex[y:y + size, x:x + size] for y, x in zip(ys, xs)]) * level


def composite(objects: np.ndarray, backgrounds: np.ndarray) -> np.ndarray:
    """Light objects on black (uint8 (N, H, W, 1)) pasted over backgrounds (float (N, H, W) in [0, 1]):
    the object's intensity is its opacity, so edges blend as a matte would."""
    obj = objects[..., 0].astype(np.float32) / 255.0
    alpha = np.clip(obj * 1.6, 0, 1)
    out = alpha * obj + (1 - alpha) * backgrounds
    return np.clip(out * 255 + 0.5, 0, 255).astype(np.uint8)[..., None]
