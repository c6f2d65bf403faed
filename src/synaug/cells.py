"""The one cell type. A *cell* is a class (long-tailed recognition) or a (class, group) pair
(fairness, spurious correlation); everything that keys, names or orders cells (planner, runner,
samplers, metrics, report) goes through `CellSpace`, so no two orderings are ever zipped.

- key: `int` class index, or a `(class, group)` tuple (dict keys, plans);
- id: the dense integer `class * G + group` (or the class), the order every list of cells follows;
- tag: `"c"` or `"c:g"` (plan.csv's `cell` column and seed hashing);
- name: the class name, or `"class / group"` (tables and reports).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Sequence

import numpy as np

Cell = Hashable  # a class index, or a (class, group) pair


def cell_tag(cell: Cell) -> str:
    """`"c"` or `"c:g"`: the plan's text form of a cell key."""
    return f"{cell[0]}:{cell[1]}" if isinstance(cell, tuple) else str(cell)


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
