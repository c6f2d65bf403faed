"""The offline renderer's searchable vocabulary (`synaug plan --suggest WORDS`): every emoji it can
draw, with its Unicode name, its CLDR keywords ("rock": boulder, heavy, stone) and the words of the
emoji sequences it is part of (the astronaut 🧑‍🚀 is a person and a rocket: the renderer draws single
code points, so "astronaut" points at both). Built once from the installed emoji data, in well under
a second (a font's character map says what it draws; rendering every glyph would take minutes), and
cached as JSON in synaug's cache folder under a key of that data, so a search reads one file.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import unicodedata
import xml.etree.ElementTree as ET
from pathlib import Path

from fontTools.ttLib import TTFont

from synaug.runtime import default_cache_dir
from synaug.emoji_data import (EMOJI_RANGES, EMOJIFY_DIR, EXCLUDED, GEMOJIONE_DIR, NAME_SEPARATORS, NOTO_EMOJI,
                               SYMBOLA, emojify_file, words_of)
from synaug.fileio import write_json

INDEX_VERSION = 1
CLDR = Path("/usr/share/unicode/cldr/common")  # Debian unicode-cldr-core
CLDR_FILES = (CLDR / "annotations" / "en.xml", CLDR / "annotationsDerived" / "en.xml")
NOT_DRAWN = {0x200D, 0xFE0F, 0x2640, 0x2642, *range(0x1F3FB, 0x1F400)}  # joiners, gender signs, skin tones


def data_key() -> str:
    """A digest of the installed emoji data the index is built from (paths, sizes, modification
    times, folder entry counts) and of the Unicode version: another install builds another index."""
    parts = [f"v{INDEX_VERSION}", unicodedata.unidata_version]
    for path in (NOTO_EMOJI, SYMBOLA, GEMOJIONE_DIR, EMOJIFY_DIR, *CLDR_FILES):
        if path.is_dir():
            parts.append(f"{path}:{path.stat().st_mtime_ns}:{sum(1 for _ in path.iterdir())}")
        elif path.is_file():
            parts.append(f"{path}:{path.stat().st_size}:{path.stat().st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _character_map(font: Path) -> set[int]:
    if not font.is_file():
        return set()
    with TTFont(str(font), lazy=True, fontNumber=0) as f:
        return set(f.getBestCmap() or {})


def _drawn_by(cp: int, noto: set, symbola: set) -> list[str]:
    """The renderer's sources holding `cp` (where `synaug.generators.sources.emoji_base` looks)."""
    found = {"noto": cp in noto, "symbola": cp in symbola,
             "emojione": (GEMOJIONE_DIR / f"{cp:X}.png").is_file(), "emojify": emojify_file(cp) is not None}
    return [s for s, ok in found.items() if ok and (s, cp) not in EXCLUDED]


def cldr_annotations() -> dict[str, list[str]]:
    """{emoji (one code point or a sequence): [its short name, keywords...]} from CLDR's English
    annotations; {} without them."""
    out: dict[str, list[str]] = {}
    for path in CLDR_FILES:
        if not path.is_file():
            continue
        for node in ET.parse(path).getroot().iter("annotation"):
            text = [t.strip() for t in (node.text or "").split("|") if t.strip()]
            key = node.get("cp", "").replace("\ufe0f", "")
            out.setdefault(key, [])
            out[key] += [t for t in text if t not in out[key]]
    return out


def build_index() -> list[dict]:
    """One entry per drawable emoji: code point, Unicode name, CLDR keywords, the sequences holding it."""
    noto, symbola = _character_map(NOTO_EMOJI), _character_map(SYMBOLA)
    notes = cldr_annotations()
    within: dict[int, list[str]] = {}
    for seq, words in notes.items():
        if len(seq) > 1:
            for ch in seq:
                if ord(ch) not in NOT_DRAWN:
                    within.setdefault(ord(ch), []).append(words[0] if words else seq)
    index = []
    for lo, hi in EMOJI_RANGES:
        for cp in range(lo, hi):
            name = unicodedata.name(chr(cp), "").lower()
            sources = _drawn_by(cp, noto, symbola) if name else []
            if sources:
                index.append(dict(cp=cp, name=name, keywords=notes.get(chr(cp), []),
                                  within=sorted(set(within.get(cp, []))), sources=sources))
    return index


def emoji_index(cache_dir: Path | None = None) -> list[dict]:
    """The index, read from the cache (built and written there the first time)."""
    path = Path(cache_dir or default_cache_dir()) / "emoji-index" / f"{data_key()}.json"
    if path.is_file():
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            pass  # a damaged cache file is rebuilt below
    index = build_index()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, index)
    except OSError:
        pass  # a read-only cache folder: the search still works, it builds again next time
    return index


def _score(entry: dict, words: set, near: set) -> tuple | None:
    """(rank key, why) of an entry for the query words; None when nothing matches."""
    name, keys = set(words_of(entry["name"])), {w for k in entry["keywords"] for w in words_of(k)}
    within = {w for k in entry["within"] for w in words_of(k)}
    direct, via, close = len(words & (name | keys)), len(words & within), len(near & (name | keys))
    if not (direct or via or close):
        return None
    why = ("name" if words & name else "keyword " + ", ".join(sorted(words & keys)) if words & keys else
           "part of " + ", ".join(k for k in entry["within"] if words & set(words_of(k))) if via else
           "a word spelled like " + ", ".join(sorted(near & (name | keys))))
    # inside a sequence, the rarer part is the telling one (the rocket of "astronaut", not the person)
    return (-direct, -via, len(entry["within"]) if via else 0, -close, len(entry["name"])), why


def search(text: str, limit: int = 8, cache_dir: Path | None = None) -> list[tuple[str, tuple, str]]:
    """The drawable emoji nearest to `text`: [(name, sources, why)], names and keywords sharing a
    word first, then emoji inside a sequence that does, then words spelled alike (difflib)."""
    index = emoji_index(cache_dir)
    words = set(words_of(" ".join(NAME_SEPARATORS.split(text.lower()))))
    vocabulary = sorted({w for e in index for w in words_of(" ".join([e["name"], *e["keywords"]]))})
    near = {m for w in words for m in difflib.get_close_matches(w, vocabulary, n=4, cutoff=0.75)} - words
    scored = sorted((s, e["name"], tuple(e["sources"]), why) for e in index
                    if (hit := _score(e, words, near)) for s, why in [hit])
    seen, out = set(), []
    for _, name, sources, why in scored:
        if name not in seen:
            seen.add(name)
            out.append((name, sources, why))
    return out[:limit]
