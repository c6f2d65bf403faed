"""The one cell type: keys, ids, tags, names and order agree everywhere (synaug.cells)."""

import numpy as np

from synaug.cells import CellSpace, cell_order, cell_tag
from synaug.data.imageset import ImageSet
from synaug.plans import image_seed
from synaug.seeds import hashed_seed


def test_ids_keys_names_and_counts_follow_one_order():
    space = CellSpace.of(["cat", "dog"], ["day", "night", "dusk"])
    assert space.size == 6 and space.grouped
    assert space.keys() == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    labels, groups = np.array([1, 0, 1, 1]), np.array([2, 0, 2, 0])
    ids = space.ids(labels, groups)
    assert ids.tolist() == [5, 0, 5, 3]
    names = space.names()
    assert [names[i] for i in ids] == ["dog / dusk", "cat / day", "dog / dusk", "dog / day"]
    counts = space.counts(ids)
    assert list(counts) == space.keys() and counts[(1, 2)] == 2 and counts[(0, 1)] == 0
    assert list(space.named(counts)) == names  # by name, in id order, whatever order the dict had
    assert list(space.named(dict(reversed(list(counts.items()))))) == names


def test_class_cells_and_tags():
    space = CellSpace.of(["a", "b", "c"])
    assert not space.grouped and space.keys() == [0, 1, 2] and space.names() == ["a", "b", "c"]
    assert cell_tag(2) == "2" and cell_tag((1, 0)) == "1:0"
    assert sorted([(1, 0), (0, 1), (0, 0)], key=cell_order) == [(0, 0), (0, 1), (1, 0)]
    assert image_seed(7, (1, 0), 3) == hashed_seed(7, "1:0", 3)  # plan seeds hash the tag


def test_imageset_cells_are_the_cell_space_of_its_names():
    ds = ImageSet(np.zeros((4, 2, 2, 1), np.uint8), [0, 1, 1, 0], ["x", "y"], groups=[1, 0, 1, 0],
                  group_names=["g0", "g1"])
    assert ds.cell_space == CellSpace.of(["x", "y"], ["g0", "g1"]) and ds.num_cells == 4
    assert ds.cells().tolist() == [1, 2, 3, 0]
    assert ds.cell_counts() == {(0, 0): 1, (0, 1): 1, (1, 0): 1, (1, 1): 1}
    assert ds.without_groups().cell_names() == ["x", "y"]
