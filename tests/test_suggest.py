"""`synaug plan --suggest WORDS`: a cached index of the drawable emoji, searched by name, CLDR keyword
and the emoji sequences a code point is part of; fast once the index exists."""

import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from synaug import emoji_index as E
from synaug.generators.sources import emoji_base

needs_cldr = pytest.mark.skipif(not E.CLDR_FILES[0].is_file(),
                                reason="CLDR annotations are not installed (scripts/install-system-deps.sh)")


@needs_cldr
def test_astronaut_and_gravel_find_drawable_emoji(tmp_path):
    astronaut = E.search("astronaut", 5, tmp_path)
    assert astronaut[0][0] == "rocket" and astronaut[0][2] == "part of astronaut"
    gravel = E.search("gravel", 5, tmp_path)
    assert gravel and all(why.startswith("a word spelled like") for _, _, why in gravel)
    stone = dict((name, why) for name, _, why in E.search("stone", 15, tmp_path))
    assert stone.get("rock") == "keyword stone"  # CLDR: 🪨 rock = boulder | heavy | rock | solid | stone
    assert E.search("brick wall", 3, tmp_path)[0][:2] == ("brick", ("noto",))


def test_the_index_is_built_once_and_read_from_the_cache(tmp_path, monkeypatch):
    first = E.emoji_index(tmp_path)
    files = list((tmp_path / "emoji-index").glob("*.json"))
    assert len(files) == 1 and files[0].stem == E.data_key()
    monkeypatch.setattr(E, "build_index", lambda: pytest.fail("the cached index was built again"))
    start = time.perf_counter()
    assert E.search("brick wall", 3, tmp_path)[0][0] == "brick"
    assert time.perf_counter() - start < 2.0  # loose: about 0.1 s on a quiet machine
    assert E.emoji_index(tmp_path) == first


def test_other_emoji_data_makes_another_index(tmp_path, monkeypatch):
    notes = tmp_path / "en.xml"
    notes.write_text("<ldml><annotations><annotation cp='🧱'>brick | wall</annotation></annotations></ldml>")
    monkeypatch.setattr(E, "CLDR_FILES", (notes,))
    before = E.data_key()
    assert dict((n, w) for n, _, w in E.search("wall", 3, tmp_path))["brick"] == "keyword wall"
    notes.write_text("<ldml><annotations><annotation cp='🧱'>brick | mortar</annotation></annotations></ldml>")
    assert E.data_key() != before
    assert "brick" not in [n for n, _, _ in E.search("wall", 3, tmp_path)]


def test_the_index_says_which_sources_draw_an_emoji_as_the_renderer_does(tmp_path):
    index = E.emoji_index(tmp_path)
    assert len(index) > 1000
    for entry in random.Random(0).sample(index, 10):  # rendering is slow: a sample
        assert all(emoji_base(s, entry["cp"]) is not None for s in entry["sources"]), entry


def test_the_command_answers_without_importing_torch():
    code = ("import sys; from synaug.cli import main; rc = main(['plan', '--suggest', 'brick wall']); "
            "print(rc, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={"PYTHONPATH": str(Path(E.__file__).parents[1]), "SYNAUG_CACHE_DIR": "/tmp/synaug-test-emoji"})
    lines = out.stdout.splitlines()
    assert lines[1].split()[0] == "brick" and lines[-1] == "0 False", out.stderr
