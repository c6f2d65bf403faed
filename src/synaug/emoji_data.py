"""Where the offline renderer's emoji live on disk (Debian packages), their Unicode names and the
word matching every lookup shares. No torch, no image code: `plan --suggest` reads only this and
`synaug.emoji_index`, and answers in well under a second."""

from __future__ import annotations

import functools
import re
import unicodedata
from pathlib import Path

NOTO_EMOJI = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
SYMBOLA = Path("/usr/share/fonts/truetype/ancient-scripts/Symbola_hint.ttf")
GEMOJIONE_DIR = Path("/usr/share/rubygems-integration/all/gems/gemojione-3.3.0/assets/png")
EMOJIFY_DIR = Path("/usr/share/javascript/emojify.js/images/emoji")
# (source, codepoint) pairs known to draw the wrong thing (docs/definitions.md#offline-renderer-sources).
EXCLUDED = {("symbola", 0x1F454)}
EMOJI_RANGES = [(0x2600, 0x27C0), (0x1F300, 0x1F700), (0x1F900, 0x1FB00)]


@functools.lru_cache(maxsize=1)
def emoji_names() -> dict[int, str]:
    names = {}
    for lo, hi in EMOJI_RANGES:
        for cp in range(lo, hi):
            name = unicodedata.name(chr(cp), "")
            if name:
                names[cp] = name.lower()
    return names


def words_of(text: str) -> list[str]:
    return [w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w
            for w in re.findall(r"[a-z0-9-]+", text.lower())]


# Characters that join alternatives in a class name ('T-shirt/top', 'T-shirt_top', 'shirt|top'):
# a file-system-safe folder name cannot contain '/', so users write '_' where the dataset had '/'.
NAME_SEPARATORS = re.compile(r"\s*[/_|,;+&]+\s*")


def emojify_file(cp: int) -> Path | None:
    name = emoji_names().get(cp, "")
    base = re.sub(r"^(womans|mans) ", "", name)
    candidates = [name, base, base.rstrip("s"), base.replace("-", "")]
    for cand in candidates:
        path = EMOJIFY_DIR / (cand.replace(" ", "_") + ".png")
        if path.is_file():
            return path
    return None
