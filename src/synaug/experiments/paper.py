"""The papers' numbers (paper_numbers.yaml: every number with its table and setting), looked up by
"TABLE/ROW" references that experiments declare beside their rows."""

from __future__ import annotations

import functools
from importlib import resources

import yaml

from synaug.errors import ConfigError


@functools.cache
def numbers() -> dict:
    return yaml.safe_load(resources.files("synaug.experiments").joinpath("paper_numbers.yaml").read_text())


def check_ref(ref: str) -> None:
    """A reference to a row of the data file; a misspelt one is an error when its experiment registers."""
    table, _, row = ref.partition("/")
    if table not in numbers() or row not in numbers()[table]["rows"]:
        raise ConfigError(f"paper reference {ref!r} is not in paper_numbers.yaml")


def source(ref: str) -> str:
    return numbers()[ref.partition("/")[0]]["source"]


def row_numbers(ref: str, imbalance: float | None = None) -> dict:
    """The paper's numbers of a row at `imbalance` (a long-tail row) or its one setting ("*")."""
    table, _, row = ref.partition("/")
    entry = numbers()[table]["rows"][row]
    if "*" in entry:
        return dict(entry["*"])
    if imbalance is None or not float(imbalance).is_integer():
        return {}
    return dict(entry.get(int(imbalance), {}))


def flag(ref: str) -> str:
    """What is wrong with a paper row, when something is (e.g. a row duplicated from another table)."""
    table, _, row = ref.partition("/")
    return numbers()[table]["rows"][row].get("flag", "")
