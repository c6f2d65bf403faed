"""Offline image sources that ship in Debian packages: font glyphs and four emoji styles.

Emoji are found for a class name through their own Unicode names plus a short synonym table
("Trouser" -> jeans). Each source returns a *base* image: a float32 intensity mask in [0, 1],
cropped to the drawing, light object on black as MNIST / Fashion-MNIST.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from synaug.emoji_data import (EMOJI_RANGES, EMOJIFY_DIR, EXCLUDED, GEMOJIONE_DIR, NAME_SEPARATORS,  # noqa: F401
                               NOTO_EMOJI, SYMBOLA, emoji_names, emojify_file, words_of)

FONT_DIRS = [Path("/usr/share/fonts"), Path("/usr/local/share/fonts")]
BASE_SIDE = 64  # base images are rendered once at this size and cached per process

# Class-name words -> Unicode emoji-name queries. Only where the name itself does not match.
SYNONYMS: dict[str, list[str]] = {
    "t-shirt/top": ["t-shirt", "running shirt with sash"],
    "t-shirt": ["t-shirt", "running shirt with sash"],
    "top": ["t-shirt"],
    "trouser": ["jeans"], "trousers": ["jeans"], "pants": ["jeans"],
    "shirt": ["necktie"],  # U+1F454 is drawn as a shirt with a tie in colour sets
    "sneaker": ["athletic shoe"],
    "bag": ["handbag", "pouch", "purse", "shopping bags"],
    "ankle boot": ["womans boots", "hiking boot"],
    "boot": ["womans boots", "hiking boot"],
    "sandal": ["womans sandal", "thong sandal"],
    "footwear": ["athletic shoe", "womans sandal", "womans boots", "hiking boot", "mans shoe"],
    "shoe": ["athletic shoe", "mans shoe"],
    "coat": ["coat", "lab coat"],
    "automobile": ["automobile", "oncoming automobile"], "car": ["automobile"],
    "airplane": ["airplane"], "plane": ["airplane"], "bird": ["bird"], "cat": ["cat"],
    "deer": ["deer"], "dog": ["dog"], "frog": ["frog"], "horse": ["horse"],
    "ship": ["ship"], "truck": ["delivery truck", "articulated lorry"],
}
HANDWRITING_HINTS = ("handwriting", "breip", "dancing", "ecolier", "femke", "comic", "humor")
SERIF_HINTS = ("serif", "roman", "garamond", "libertine", "c059", "p052", "termes", "pagella",
               "schola", "bonum", "caladea", "stix")
MONO_HINTS = ("mono", "typewriter", "hack", "courier", "code")


# ----------------------------------------------------------------------------- fonts
@functools.lru_cache(maxsize=1)
def font_catalog() -> dict[str, list[Path]]:
    """Installed outline fonts by style: handwriting, serif, mono, sans (emoji/symbol fonts excluded)."""
    styles: dict[str, list[Path]] = {"handwriting": [], "serif": [], "mono": [], "sans": []}
    for root in FONT_DIRS:
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            name = path.name.lower()
            if path.suffix.lower() not in (".ttf", ".otf") or any(
                    bad in name for bad in ("emoji", "symbola", "math", "music", "icon", "dingbat",
                                            "initials", "keyboard", "ornament", "z003", "d050000l")):
                continue
            if "noto" in name and not name.startswith(("notosans-", "notoserif-", "notosansmono-")):
                continue  # hundreds of script-specific Noto fonts: keep the Latin ones
            style = ("handwriting" if any(h in name for h in HANDWRITING_HINTS) else
                     "mono" if any(h in name for h in MONO_HINTS) else
                     "serif" if any(h in name for h in SERIF_HINTS) and "sans" not in name else "sans")
            styles[style].append(path)
    return styles


@functools.lru_cache(maxsize=4096)
def glyph_base(font_path: str, char: str) -> np.ndarray | None:
    """The glyph of `char` in a font as a cropped float mask, or None if the font lacks it."""
    try:
        font = ImageFont.truetype(font_path, 48)
    except OSError:
        return None
    img = Image.new("L", (96, 96), 0)
    ImageDraw.Draw(img).text((48, 48), char, fill=255, font=font, anchor="mm")
    mask = _crop(np.asarray(img, dtype=np.float32) / 255.0)
    if mask is None or _is_notdef(font, char):
        return None
    return mask


NOTDEF_PROBE = chr(0x10FFFD)  # a private-use codepoint no font draws: yields the .notdef glyph


def _is_notdef(font: ImageFont.FreeTypeFont, char: str) -> bool:
    """A font lacking a glyph draws its .notdef box instead; compare bitmaps to detect that."""
    a, b = font.getmask(char), font.getmask(NOTDEF_PROBE)
    return a.size == b.size and bytes(a) == bytes(b)


def fonts_with(char: str, style: str | None = None) -> list[str]:
    cat = font_catalog()
    paths = cat.get(style, []) if style else [p for ps in cat.values() for p in ps]
    return [str(p) for p in paths if glyph_base(str(p), char) is not None]


# ----------------------------------------------------------------------------- emoji
def emoji_for(class_name: str) -> list[int]:
    """Codepoints whose Unicode name matches the class name (or its synonyms). The whole name is
    tried first ('ankle boot', 'ankle_boot'), then its parts split at separators ('t-shirt', 'top')."""
    key = " ".join(class_name.strip().lower().split())
    parts = [p for p in NAME_SEPARATORS.split(key) if p]
    queries = (SYNONYMS.get(key) or SYNONYMS.get(" ".join(key.replace("_", " ").split()))
               or SYNONYMS.get("/".join(parts)) or [q for part in parts for q in SYNONYMS.get(part, [part])])
    found = []
    for query in queries:
        qwords = words_of(query)
        exact = [cp for cp, n in emoji_names().items() if words_of(n) == qwords]
        contains = [cp for cp, n in emoji_names().items() if all(w in words_of(n) for w in qwords)]
        for cp in exact or contains[:3]:
            if cp not in found:
                found.append(cp)
    return found


def _crop(mask: np.ndarray, threshold: float = 0.05) -> np.ndarray | None:
    ys, xs = np.where(mask > threshold)
    if len(ys) == 0:
        return None
    return np.ascontiguousarray(mask[ys.min():ys.max() + 1, xs.min():xs.max() + 1])


def _negated_gray(rgba: Image.Image) -> np.ndarray:
    """Fashion-MNIST look: intensities negated (dark garments bright), background black."""
    arr = np.asarray(rgba.convert("RGBA"), dtype=np.float32) / 255.0
    lum = arr[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return arr[..., 3] * np.clip(1.0 - lum, 0.3, 1.0) ** 0.7


def _noto(cp: int) -> Image.Image | None:
    if not NOTO_EMOJI.is_file():
        return None
    font = ImageFont.truetype(str(NOTO_EMOJI), 109)  # the only size the CBDT bitmaps come in
    img = Image.new("RGBA", (160, 160), (0, 0, 0, 0))
    ImageDraw.Draw(img).text((80, 80), chr(cp), font=font, embedded_color=True, anchor="mm")
    return img


def _symbola(cp: int) -> np.ndarray | None:
    """Symbola glyphs are outlines: fill them (flood the outside, keep the rest) for silhouettes."""
    if not SYMBOLA.is_file():
        return None
    font = ImageFont.truetype(str(SYMBOLA), 96)
    if font.getmask(chr(cp)).getbbox() is None or _is_notdef(font, chr(cp)):
        return None
    img = Image.new("L", (160, 160), 0)
    ImageDraw.Draw(img).text((80, 80), chr(cp), fill=255, font=font, anchor="mm")
    binary = img.point(lambda v: 255 if v > 96 else 0)
    ImageDraw.floodfill(binary, (0, 0), 128)
    filled = np.asarray(binary) != 128
    outline = np.asarray(img, dtype=np.float32) / 255.0
    return np.maximum(filled.astype(np.float32) * 0.75, outline)


def _png(path: Path) -> Image.Image | None:
    if not path.is_file():
        return None
    with Image.open(path) as im:
        return im.convert("RGBA")


EMOJI_SOURCES = ("noto", "symbola", "emojione", "emojify")


@functools.lru_cache(maxsize=1024)
def emoji_base(source: str, cp: int) -> np.ndarray | None:
    """The emoji `cp` from `source` as a cropped float mask, or None where the source lacks it."""
    if (source, cp) in EXCLUDED:
        return None
    if source == "noto":
        img = _noto(cp)
        mask = None if img is None else _negated_gray(img)
    elif source == "symbola":
        mask = _symbola(cp)
    elif source == "emojione":
        img = _png(GEMOJIONE_DIR / f"{cp:X}.png")
        mask = None if img is None else _negated_gray(img)
    elif source == "emojify":
        path = emojify_file(cp)
        mask = None if path is None else _negated_gray(_png(path))
    else:
        raise ValueError(f"unknown emoji source {source!r}")
    return None if mask is None else _crop(mask)


@functools.lru_cache(maxsize=256)
def emoji_styles(class_name: str) -> tuple[tuple[str, int], ...]:
    """Every (source, codepoint) able to draw the class; empty if none."""
    return tuple((s, cp) for cp in emoji_for(class_name) for s in EMOJI_SOURCES
                 if emoji_base(s, cp) is not None)
