"""`render`: the offline, CPU generator that stands in for a text-to-image model.

It draws a class from assets that ship in Debian packages: digit/letter glyphs in the installed
font families (MNIST-like: light stroke on black, fitted to a 20/28 box, centred by mass) and emoji
in four styles for object classes (Fashion-MNIST-like: negated intensities, filling the frame).
The prompt's modifier becomes real rendering variation (font style, stroke weight, slant, rotation,
scale, aspect, brightness, elastic distortion, texture); the item's seed fixes every random draw,
so an image depends only on (class, modifier, seed, output size).

`degrade` (a number from 0 to 1, default 0; declared in `option_constraints`) lowers sample quality
for the sample-quality study (paper Fig. 4, where quality falls with fewer diffusion steps): a
sampler stopped early leaves a blurry, washed-out image with residual noise, so the rendered image
is (1) blurred with a Gaussian of sd 1.5 * degrade px (at 28 px, scaled with the side), (2) pulled
toward its mean brightness, keeping 1 - 0.6 * degrade of its contrast, and (3) blended with seeded
Gaussian noise (mean 0.5, sd 0.25 of the range) at weight 0.6 * degrade. The noise comes from its
own stream of the item's seed, so the undegraded draws are untouched and degrade=0 gives today's
images byte for byte.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from numbers import Real
from typing import Sequence

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter, grey_dilation, map_coordinates

from synaug.constraints import Interval
from synaug.data.groups import TEXTURES, apply_tint, background_patches, composite, is_colour
from synaug.errors import ConfigError
from synaug.generators.base import Generated, Knob, check_option, register_generator
from synaug.emoji_index import search
from synaug.generators.recorded import RecordsConfig
from synaug.generators.sources import emoji_base, emoji_styles, fonts_with, glyph_base
from synaug.plans import PlanItem


@dataclass(frozen=True)
class Style:
    """Rendering parameters one modifier sets; random draws happen around them."""

    font_style: str | None = None  # handwriting / serif / sans / mono; None = any
    stroke: int = 0                 # -1 thinner, +1 bolder, +2 much bolder
    shear: float = 0.0              # italic / slanted
    rotation_sd: float = 6.0        # degrees
    scale: float = 1.0
    aspect: float = 1.0             # width / height multiplier
    brightness: float = 1.0
    elastic: float = 1.0            # displacement sd, output pixels at 2x resolution
    texture: str | None = None      # stripes / noise / faded


KEYWORDS: dict[str, dict] = {
    "handwritten": dict(font_style="handwriting"), "cursive": dict(font_style="handwriting"),
    "script": dict(font_style="handwriting"), "serif": dict(font_style="serif"),
    "sans-serif": dict(font_style="sans"), "printed": dict(font_style="sans"),
    "typewriter": dict(font_style="mono"), "monospace": dict(font_style="mono"),
    "bold": dict(stroke=1), "thick": dict(stroke=2), "heavy": dict(stroke=2), "thin": dict(stroke=-1),
    "slanted": dict(shear=0.3), "italic": dict(shear=0.3), "rotated": dict(rotation_sd=18.0),
    "tilted": dict(rotation_sd=14.0), "upright": dict(rotation_sd=2.0),
    "small": dict(scale=0.72), "tiny": dict(scale=0.6), "large": dict(scale=1.08), "big": dict(scale=1.08),
    "wide": dict(aspect=1.3), "narrow": dict(aspect=0.75), "faint": dict(brightness=0.55),
    "dark": dict(brightness=0.5), "dim": dict(brightness=0.65), "bright": dict(brightness=1.0),
    "light": dict(brightness=0.8), "messy": dict(elastic=1.8), "scribbled": dict(elastic=2.2),
    "wobbly": dict(elastic=1.6), "neat": dict(elastic=0.4, rotation_sd=3.0),
    "striped": dict(texture="stripes"), "patterned": dict(texture="noise"),
    "textured": dict(texture="noise"), "knitted": dict(texture="noise"), "faded": dict(texture="faded"),
    "worn": dict(texture="faded"),
}


def style_for(modifier: str) -> Style:
    style = Style()
    for token in modifier.lower().replace(",", " ").split():
        if token in KEYWORDS:
            style = replace(style, **KEYWORDS[token])
    return style


def glyph_chars(class_name: str) -> list[str] | None:
    """Classes named by one letter or digit ('7', 'digit 7', 'A') or a range of them ('digit 0-4')
    are drawn as glyphs; anything else as an object."""
    token = class_name.strip().split()[-1] if class_name.strip() else ""
    if len(token) == 1 and token.isalnum():
        return [token]
    m = re.fullmatch(r"([0-9A-Za-z])-([0-9A-Za-z])", token)
    if m and m.group(1) < m.group(2):
        return [chr(c) for c in range(ord(m.group(1)), ord(m.group(2)) + 1)]
    return None


@register_generator("render")
class RenderGenerator(RecordsConfig):
    name = "render"
    parallel_safe = True  # pure CPU and picklable: `--workers N` renders batches in N processes
    reads_prompt = True   # the modifier sets the style (font, stroke, slant, shade)
    quality_knob = Knob("degrade", 0.0, (1.0, 0.75, 0.5, 0.25, 0.0), "render quality (1 - degrade)")
    report_note = ("The offline <code>render</code> generator stands in for a text-to-image model: it draws from "
                   "fonts, emoji and textures that ship in Debian and scikit-image. Its domain gap differs from "
                   "Stable Diffusion's; read these numbers as a test of the pipeline on real data, not as a "
                   "reproduction of the paper's figures.")
    described = ("size", "channels", "unspecified_groups", "aliases", "render_words", "degrade")
    # absent when unused: folders made before these options existed keep their fingerprint
    left_out_when_unset = ("aliases", "render_words", "degrade")
    # what each option may be, said once (`generators.base.check_option`); image_shape comes from the plan
    option_constraints = {"degrade": (Interval(Real, 0, 1),)}

    def __init__(self, *, degrade: float = 0.0, image_shape: Sequence[int] = (28, 28, 1),
                 unspecified_groups: Sequence[str] = (), aliases: dict[str, str] | None = None,
                 render_words: dict[str, str] | None = None):
        H, W, C = (int(v) for v in image_shape)
        degrade = float(check_option(self, "degrade", degrade))
        if C not in (1, 3):
            raise ConfigError(f"the render generator draws 1- or 3-channel images, not {C}")
        self.record(size=(H, W), channels=C, degrade=degrade,
                    # items whose prompt names no group get one of these, drawn by seed (as a text-to-image
                    # model fills in attributes a prompt leaves open); recorded as `drawn_group`
                    unspecified_groups=list(unspecified_groups),
                    # class name -> the words the renderer looks up instead ('T-shirt_top' -> 't-shirt')
                    aliases={str(k): str(v) for k, v in (aliases or {}).items()},
                    # class name -> the word looked up here only (the prompt keeps the class name or its alias)
                    render_words={str(k): str(v) for k, v in (render_words or {}).items()})

    def _name(self, item: PlanItem) -> str:
        """The word looked up for the item's class: its render word, else its alias, else its name."""
        return self.render_words.get(item.class_name) or self.aliases.get(item.class_name, item.class_name)

    def cannot_draw(self, item: PlanItem) -> str | None:
        name = self._name(item)
        chars = glyph_chars(name)
        if chars is not None:
            missing = [c for c in chars if not fonts_with(c)]
            if missing:
                return f"no installed font has a glyph for {missing}"
        elif not emoji_styles(name):
            return undrawable_message(item.class_name, name)
        for group in [item.group_name] if item.group_name else self.unspecified_groups:
            if not (is_colour(group) or group in TEXTURES):
                return (f"the renderer cannot draw group {group!r}: it draws colour names (tints) "
                        f"and the backgrounds {TEXTURES}")
        return None

    def generate(self, items: Sequence[PlanItem]) -> list[Generated]:
        out = []
        for item in items:
            group = item.group_name or self._unspecified_group(item)
            extra = {"drawn_group": group} if group and not item.group_name else {}
            out.append(Generated(self.render(item, group), extra))
        return out

    def _unspecified_group(self, item: PlanItem) -> str:
        if not self.unspecified_groups:
            return ""
        rng = np.random.default_rng([item.seed, 3])
        return self.unspecified_groups[int(rng.integers(len(self.unspecified_groups)))]

    # ------------------------------------------------------------------ drawing
    def render(self, item: PlanItem, group: str | None = None) -> Image.Image:
        rng = np.random.default_rng(item.seed)
        style = style_for(item.modifier)
        group = item.group_name if group is None else group
        chars = glyph_chars(self._name(item))
        if chars is not None:
            mask = self._glyph(chars[int(rng.integers(len(chars)))] if len(chars) > 1 else chars[0], style, rng)
        else:
            mask = self._emoji(self._name(item), style, rng)
        if group in TEXTURES:  # the object over a real background texture, as the dataset composes it
            mask = composite((np.clip(mask, 0, 1) * 255)[None, :, :, None],
                             background_patches(group, 1, self.size[0], rng))[0, :, :, 0] / 255.0
        out = np.clip(mask * 255.0 + 0.5, 0, 255).astype(np.uint8)[:, :, None]
        if self.channels == 3:
            out = np.repeat(out, 3, axis=2)
            if group and is_colour(group):
                out = apply_tint(out[:, :, :1], group)
        if self.degrade:
            out = degrade_pixels(out, self.degrade, np.random.default_rng([item.seed, 11]))
        return Image.fromarray(out, "RGB") if self.channels == 3 else Image.fromarray(out[:, :, 0], "L")

    def _glyph(self, char: str, style: Style, rng: np.random.Generator) -> np.ndarray:
        fonts = fonts_with(char, style.font_style) or fonts_with(char)
        base = glyph_base(fonts[rng.integers(len(fonts))], char)
        weight = style.stroke + (int(rng.integers(-1, 2)) if style.stroke == 0 else 0)
        box = 20.0 / 28.0  # MNIST: digit fitted in a 20x20 box of the 28x28 frame
        mask = self._place(base, style, rng, box, flip=False, ink=INK_BY_WEIGHT[max(-1, min(2, weight))])
        mask = _center_of_mass(mask)
        peak = mask.max()  # MNIST strokes peak at full white: normalise, then apply the modifier's shade
        return mask / peak * style.brightness * rng.uniform(0.9, 1.0) if peak > 0 else mask

    def _emoji(self, class_name: str, style: Style, rng: np.random.Generator) -> np.ndarray:
        options = emoji_styles(class_name)
        source, cp = options[rng.integers(len(options))]
        base = emoji_base(source, cp)
        mask = self._place(base, replace(style, elastic=style.elastic * 0.5), rng, 0.93, flip=True, ink=0.0)
        mask = _texture(mask, style.texture, rng)
        # Fashion-MNIST objects are bright whatever their colour: scale the object's own bright end
        # (95th percentile of its ink) to the modifier's shade, as glyphs are scaled to their peak
        ink = mask[mask > 0.05]
        peak = np.percentile(ink, 95) if ink.size else 0.0
        scale = style.brightness * rng.uniform(0.8, 1.0) / peak if peak > 0 else 1.0
        return np.clip(mask * scale, 0.0, 1.0)

    def _place(self, base: np.ndarray, style: Style, rng, box: float, flip: bool, ink: float) -> np.ndarray:
        """Affine-map the base into the frame at 2x resolution, distort, thicken strokes until
        `ink` of the glyph's box is covered (fonts range from hairline to black), reduce 2x."""
        H, W = self.size
        H2, W2 = 2 * H, 2 * W
        h0, w0 = base.shape
        aspect = style.aspect * rng.uniform(0.9, 1.1)
        scale = style.scale * rng.uniform(0.92, 1.05)
        s = box * min(H2, W2) * scale / max(h0, w0 * aspect)
        theta = math.radians(rng.normal(0.0, style.rotation_sd))
        shear = style.shear + rng.normal(0.0, 0.08)
        sx = s * aspect * (-1 if flip and rng.random() < 0.5 else 1)
        # forward map base -> canvas: centre, scale, shear, rotate, move to canvas centre
        c, si = math.cos(theta), math.sin(theta)
        A = np.array([[c, -si], [si, c]]) @ np.array([[1.0, -shear], [0.0, 1.0]]) @ np.diag([sx, s])
        offset = np.array([W2 / 2, H2 / 2]) + rng.normal(0.0, 0.03 * min(H2, W2), 2)
        inv = np.linalg.inv(A)
        t = -inv @ offset + np.array([w0 / 2, h0 / 2])
        img = Image.fromarray(base.astype(np.float32), "F").transform(
            (W2, H2), Image.AFFINE, (inv[0, 0], inv[0, 1], t[0], inv[1, 0], inv[1, 1], t[1]),
            resample=Image.BILINEAR)
        canvas = np.asarray(img, dtype=np.float32)
        if style.elastic > 0:
            canvas = _elastic(canvas, style.elastic, rng)
        if ink > 0:
            canvas = _thicken(canvas, ink * (box * min(H2, W2)) ** 2)
        return canvas.reshape(H, 2, W, 2).mean(axis=(1, 3))


def undrawable_message(class_name: str, looked_up: str) -> str:
    """Why a class has no emoji, the renderer's nearest words for it, and how to give one."""
    looked = f"{class_name!r}" + (f" (looked up as {looked_up!r})" if looked_up != class_name else "")
    near = [name for name, _, _ in search(looked_up, 5)]
    return (f"no emoji for class {looked} in any installed source (Noto Color Emoji, Symbola, EmojiOne, emojify). "
            + (f"Nearest drawable emoji names: {', '.join(repr(n) for n in near)}; " if near else
               "No emoji name or keyword shares a word with it; ")
            + f"more with `synaug plan --suggest '{looked_up}'`. Give it a render word (the renderer's lookup "
            f"only; the prompt keeps the class name): `synaug plan --render-word '{class_name}=WORD'`, or `render: "
            f"{{\"{class_name}\": WORD}}` in a modifier bank YAML (--modifiers) or `render_words:` under `plan:` of "
            f"a run config; an alias (--alias) changes the prompt too; or skip the class with --skip-undrawable")


def degrade_pixels(pixels: np.ndarray, degrade: float, rng: np.random.Generator) -> np.ndarray:
    """An (H, W, C) uint8 image at lower quality (module docstring): blur, lower contrast, noise."""
    x = pixels.astype(np.float64) / 255.0
    sigma = 1.5 * degrade * min(x.shape[:2]) / 28.0
    x = gaussian_filter(x, sigma=(sigma, sigma, 0.0), mode="nearest")
    x = x.mean() + (x - x.mean()) * (1.0 - 0.6 * degrade)
    noise = rng.normal(0.5, 0.25, x.shape)
    x = (1.0 - 0.6 * degrade) * x + 0.6 * degrade * noise
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


# Fraction of the glyph box covered by ink per stroke weight (MNIST digits cover about 0.2-0.3).
INK_BY_WEIGHT = {-1: 0.13, 0: 0.2, 1: 0.27, 2: 0.34}


def _thicken(canvas: np.ndarray, target_pixels: float, max_steps: int = 4) -> np.ndarray:
    for _ in range(max_steps):
        if (canvas > 0.5).sum() >= target_pixels:
            break
        canvas = grey_dilation(canvas, size=(3, 3))
    return canvas


def _elastic(canvas: np.ndarray, sd: float, rng) -> np.ndarray:
    """Smooth random displacement: a coarse 4x4 grid upsampled (3x cheaper than a full gaussian)."""
    h, w = canvas.shape
    grid = rng.normal(0.0, sd, (2, 4, 4)).astype(np.float32)
    dy = np.asarray(Image.fromarray(grid[0], "F").resize((w, h), Image.BICUBIC))
    dx = np.asarray(Image.fromarray(grid[1], "F").resize((w, h), Image.BICUBIC))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return map_coordinates(canvas, [yy + dy, xx + dx], order=1, mode="constant", cval=0.0)


def _center_of_mass(mask: np.ndarray) -> np.ndarray:
    """Shift (whole pixels, zero fill) so the intensity centre of mass sits at the frame centre."""
    total = mask.sum()
    if total <= 0:
        return mask
    h, w = mask.shape
    cy = (mask.sum(1) * np.arange(h)).sum() / total
    cx = (mask.sum(0) * np.arange(w)).sum() / total
    dy, dx = int(round((h - 1) / 2 - cy)), int(round((w - 1) / 2 - cx))
    out = np.zeros_like(mask)
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[yd, xd] = mask[ys, xs]
    return out


def _texture(mask: np.ndarray, kind: str | None, rng) -> np.ndarray:
    h, w = mask.shape
    if kind == "stripes":
        period = rng.uniform(2.5, 5.0)
        angle = rng.choice([0.0, math.pi / 2, math.pi / 4])
        yy, xx = np.mgrid[0:h, 0:w]
        phase = (yy * math.cos(angle) + xx * math.sin(angle)) * 2 * math.pi / period
        return mask * (0.65 + 0.35 * np.sin(phase + rng.uniform(0, 2 * math.pi)))
    if kind == "noise":
        return mask * np.clip(1.0 + rng.normal(0.0, 0.22, (h, w)), 0.4, 1.4)
    if kind == "faded":
        return mask * 0.7 + rng.normal(0.0, 0.05, (h, w)) * (mask > 0.05)
    return mask
