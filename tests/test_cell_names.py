"""Cells as users type them: class names or indices (and "class:group") in strategies, render words
and aliases, through the one codec (synaug.cells); errors list the data's names with their indices."""

import json

import numpy as np
import pytest
from PIL import Image

from synaug import api
from synaug.cells import CellSpace, cell_tag, cell_text, class_of, parse_tag
from synaug.cli import main
from synaug.errors import PlanError
from synaug.validate import parse_strategy

SPACE = CellSpace.of(["cat", "brick wall", "dog"])
GROUPED = CellSpace.of(["cat", "brick wall"], ["indoor", "outdoor"])


def test_tags_round_trip_and_nothing_else_parses():
    for key in (0, 7, (3, 1), (0, 0)):
        assert parse_tag(cell_tag(key)) == key
    assert class_of(parse_tag("3:1")) == 3 and class_of(parse_tag("4")) == 4
    for bad in ("brick wall", "1:2:3", "-1", "", "1:x"):
        with pytest.raises(ValueError):
            parse_tag(bad)


def test_a_cell_is_named_by_class_name_or_index():
    assert [SPACE.key_of(t) for t in ("brick wall", " brick wall ", "1", 1, "dog", "0")] == [1, 1, 1, 1, 2, 0]
    assert [GROUPED.key_of(t) for t in ("brick wall:outdoor", "1:1", "cat:1", "0:indoor", (1, 0))] == \
        [(1, 1), (1, 1), (0, 1), (0, 0), (1, 0)]
    assert GROUPED.id_of(GROUPED.key_of("brick wall:outdoor")) == 3
    with pytest.raises(PlanError) as err:
        SPACE.key_of("brick")
    assert str(err.value) == ("unknown cell 'brick': 'brick' is neither a name nor an index of a class of this data; "
                              "did you mean 'brick wall'? "
                              "(classes 0 'cat', 1 'brick wall', 2 'dog')")
    with pytest.raises(PlanError, match=r"'7' is neither .* \(classes 0 'cat', 1 'brick wall', 2 'dog'\)"):
        SPACE.key_of(7)
    with pytest.raises(PlanError, match=r"class x group; name one as 'class:group' \(classes 0 'cat', 1 'brick wall'; "
                                        r"groups 0 'indoor', 1 'outdoor'\)"):
        GROUPED.key_of("cat")
    with pytest.raises(PlanError, match="did you mean 'outdoor'"):
        GROUPED.key_of("cat:outdor")


def test_a_strategy_keeps_cells_as_typed_until_the_data_names_them():
    assert [cell_text(c) for c in (3, np.int64(2), (1, 0), " cat ", 3.5)] == ["3", "2", "1:0", "cat", "3.5"]
    with pytest.raises(PlanError, match="unknown cell '3.5'"):
        SPACE.key_of(cell_text(3.5))  # never rounded to a class
    assert parse_strategy('{"brick wall": 16, "0": 3, 2: 5}') == {"brick wall": 16, "0": 3, "2": 5}
    with pytest.raises(PlanError, match="given twice"):
        parse_strategy('{"0": 1, 0: 2}')


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "photos"
    for split, counts in (("train", {"brick wall": 3, "cat": 9, "dog": 5}), ("test", dict.fromkeys(["brick wall", "cat", "dog"], 1))):
        for c, (name, n) in enumerate(counts.items()):
            (root / split / name).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(np.full((8, 8, 3), 30 * c + i, np.uint8)).save(root / split / name / f"{i}.png")
    return root


def test_strategies_and_render_words_take_class_names(folder, tmp_path, capsys):
    data = f"imagefolder:{folder}"
    _, meta = api.plan(data, tmp_path / "a.csv", strategy={"brick wall": 6, "2": 7, "cat": 9},
                       render_words={"0": "brick"})
    final = {r["name"]: r["final"] for r in meta["cells"]}
    assert final == {"brick wall": 6, "cat": 9, "dog": 7}
    assert meta["render_words"] == {"brick wall": "brick"}
    assert main(["plan", "--dataset", data, "--strategy", '{"brick wal": 4}', "--out", str(tmp_path / "b.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown cell 'brick wal'") and "did you mean 'brick wall'?" in err
    assert "(classes 0 'brick wall', 1 'cat', 2 'dog')" in err
    assert main(["plan", "--dataset", data, "--strategy", '{"brick wall": 4, "0": 5}', "--out", str(tmp_path / "c.csv")]) == 2
    assert "cell 'brick wall' is given twice" in capsys.readouterr().err
    assert json.loads((tmp_path / "a.json").read_text())["strategy"] == '{"2": 7, "brick wall": 6, "cat": 9}'
    # the plan's table shows each cell's index beside its name: what a strategy may name it by
    assert main(["plan", "--dataset", data, "--strategy", '{"brick wall": 6}', "--out", str(tmp_path / "d.csv")]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[1].split() == ["key", "cell", "real", "cut", "add", "final"]
    assert table[2].split() == ["0", "brick", "wall", "3", "0", "3", "6"]


def test_a_render_word_or_alias_names_a_class():
    assert SPACE.class_index("dog") == 2 and SPACE.class_index(" 1 ") == 1 and GROUPED.class_index("brick wall") == 1
    with pytest.raises(PlanError, match=r"^unknown class 'dgo': 'dgo' is neither a name nor an index of a class of this "
                                        r"data; did you mean 'dog'\? \(classes 0 'cat', 1 'brick wall', 2 'dog'\)$"):
        SPACE.class_index("dgo")
