"""The one cell type. A *cell* is a class (long-tailed recognition) or a (class, group) pair
(fairness, spurious correlation); everything that keys, names or orders cells (planner, runner,
samplers, metrics, report) goes through `CellSpace`, so no two orderings are ever zipped.

- key: `int` class index, or a `(class, group)` tuple (dict keys, plans);
- id: the dense integer `class * G + group` (or the class), the order every list of cells follows;
- tag: `"c"` or `"c:g"` (plan.csv's `cell` column, audit.json's `key`, seed hashing);
- name: the class name, or `"class / group"` (tables and reports).

This module is the only place a tag is written (`cell_tag`) or read (`parse_tag`), and where what a
user types for a cell (a class name or index, "class:group" in names or indices) becomes a key
(`CellSpace.key_of`); an unknown one is an error that lists the data's name-to-index table.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Hashable, Sequence

import numpy as np

from synaug.errors import PlanError, did_you_mean

Cell = Hashable  # a class index, or a (class, group) pair
TAG_SEPARATOR = ":"
LISTED = 40  # classes an error lists by name and index before "..."


def cell_tag(cell: Cell) -> str:
    """`"c"` or `"c:g"`: the plan's text form of a cell key."""
    return f"{cell[0]}{TAG_SEPARATOR}{cell[1]}" if isinstance(cell, tuple) else str(cell)


def parse_tag(tag) -> Cell:
    """A cell key from its tag (`cell_tag`'s inverse): "3" -> 3, "3:1" -> (3, 1); ValueError otherwise."""
    parts = str(tag).strip().split(TAG_SEPARATOR)
    if len(parts) > 2 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"not a cell tag: {tag!r}")
    return int(parts[0]) if len(parts) == 1 else (int(parts[0]), int(parts[1]))


def class_of(cell: Cell) -> int:
    """The class of a cell key."""
    return cell[0] if isinstance(cell, tuple) else int(cell)


def is_grouped_tag(tag) -> bool:
    return isinstance(parse_tag(tag), tuple)


def cell_text(cell) -> str:
    """How a cell given by a user or a program is kept before the data is known: a key (int or pair)
    as its tag, a user's text (a name, "name:group", "3") as typed, stripped."""
    if isinstance(cell, tuple) or (isinstance(cell, numbers.Integral) and not isinstance(cell, bool)):
        return cell_tag(tuple(cell) if isinstance(cell, tuple) else int(cell))
    return str(cell).strip()  # a name, or anything else: `CellSpace.key_of` names what it is not


def cell_order(cell: Cell) -> tuple:
    """Sort key: classes in order, groups in order within a class (the order of cell ids)."""
    return cell if isinstance(cell, tuple) else (cell,)


@dataclass(frozen=True)
class CellSpace:
    """Every possible cell of a labelling: classes, or classes x groups."""

    class_names: tuple
    group_names: tuple | None = None

    @classmethod
    def of(cls, class_names: Sequence[str], group_names: Sequence[str] | None = None) -> CellSpace:
        return cls(tuple(class_names), None if group_names is None else tuple(group_names))

    @property
    def grouped(self) -> bool:
        return self.group_names is not None

    @property
    def size(self) -> int:
        return len(self.class_names) * (len(self.group_names) if self.grouped else 1)

    def ids(self, labels: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
        """The cell id of every sample."""
        labels = np.asarray(labels, dtype=np.int64)
        return labels if not self.grouped else labels * len(self.group_names) + np.asarray(groups, dtype=np.int64)

    def keys(self) -> list[Cell]:
        """Every cell's key, in id order."""
        if not self.grouped:
            return list(range(len(self.class_names)))
        return [(c, g) for c in range(len(self.class_names)) for g in range(len(self.group_names))]

    def id_of(self, cell: Cell) -> int:
        """The dense id of a cell key (its row in `keys()`)."""
        if self.grouped != isinstance(cell, tuple):
            raise ValueError(f"cell {cell!r} does not fit {'class x group' if self.grouped else 'class'} cells")
        return cell[0] * len(self.group_names) + cell[1] if self.grouped else int(cell)

    def key_of(self, text) -> Cell:
        """The key of a cell as a user names it: a class index or name, and with groups "class:group"
        (each an index or a name; digits are an index); a PlanError listing the names and indices otherwise."""
        if isinstance(text, tuple) or (isinstance(text, int) and not isinstance(text, bool)):
            text = cell_tag(text)
        text = str(text).strip()
        if not self.grouped:
            return self._index_of(text, self.class_names, text)
        head, sep, tail = text.rpartition(TAG_SEPARATOR)
        if not sep:
            raise PlanError(f"cell {text!r}: this data's cells are class x group; name one as 'class:group' "
                            f"({self.listing()})")
        return self._index_of(head.strip(), self.class_names, text), self._index_of(tail.strip(), self.group_names, text)

    def class_index(self, text) -> int:
        """The index of a class as a user names it (an index or a name), or a PlanError with the table."""
        return self._index_of(str(text).strip(), self.class_names, str(text), "class")

    def _index_of(self, part: str, names: tuple, text: str, what: str = "cell") -> int:
        """An index as written (digits: as plan.csv's tags, even where a class is named "3"), or a name."""
        if part.isdigit() and int(part) < len(names):
            return int(part)
        if part in names and not part.isdigit():
            return names.index(part)
        raise PlanError(f"unknown {what} {text!r}: {part!r} is neither a name nor an index of "
                        f"{'a group' if names is self.group_names else 'a class'} of this data"
                        f"{did_you_mean(part, names)} ({self.listing()})")

    def listing(self) -> str:
        """The data's name-to-index table, as errors show it: "classes 0 'cat', 1 'dog'; groups 0 'land'"."""
        def table(names):
            shown = ", ".join(f"{i} {n!r}" for i, n in enumerate(names[:LISTED]))
            return shown + (f", ... ({len(names)} in all)" if len(names) > LISTED else "")
        return f"classes {table(self.class_names)}" + (f"; groups {table(self.group_names)}" if self.grouped else "")

    def name(self, cell: Cell) -> str:
        if isinstance(cell, tuple):
            return f"{self.class_names[cell[0]]} / {self.group_names[cell[1]]}"
        return str(self.class_names[cell])

    def names(self) -> list[str]:
        """Every cell's name, in id order (index with a cell id)."""
        return [self.name(k) for k in self.keys()]

    def counts(self, ids: np.ndarray) -> dict:
        """{cell key: number of samples} over every cell (zeros included), in id order."""
        flat = np.bincount(np.asarray(ids, dtype=np.int64), minlength=self.size)
        return {k: int(n) for k, n in zip(self.keys(), flat)}

    def named(self, per_cell: dict) -> dict:
        """{cell key: value} -> {cell name: value}, in id order."""
        return {self.name(k): per_cell[k] for k in sorted(per_cell, key=cell_order)}
