"""One vocabulary for what a value may be, modelled on scikit-learn's `validate_params` and
imbalanced-learn's `_parameter_constraints`: each field declares its constraints as data
(`Interval(Integral, 1, None, closed="left")`, `Options({...})`, `BOOLEAN`, `None` for null), and
every check, from a config file, a spec, the Python API or an argparse type, fails with one wording:

    NAME: must be DESCRIPTION, got VALUE

(argparse puts `argument --flag:` in front of `must be ...`). The bounds and defaults shared by
several commands live here once (MAX_SIDE, MAX_WORKERS, the Many / Few thresholds, `max_ratio`).
Nothing below the CLI imports argparse for these checks; `arg_type` turns a constraint into an
argparse `type=` callable.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, Callable, Iterable, Mapping

from synaug.errors import ConfigError, did_you_mean

# ----------------------------------------------------------------------------- bounds and defaults said once
MAX_SIDE = 8192    # px: an image side above it is a typo (SDXL draws 1024, ImageNet trains at 224-256)
MAX_WORKERS = 256  # processes: more than any machine synaug runs on, fewer than a typo would start
MAX_BATCH = 2**20  # images per generation batch
MANY, FEW = 100, 20  # LDAM-DRW's Many / Few class thresholds (training images; set for CIFAR100-LT)
MAX_RATIO = 2.0    # the audit filter's manifold check: kNN distance over the real data's own (0: off)


# ----------------------------------------------------------------------------- constraints
class Constraint:
    """What a value may be: `accepts(value)` and a `describe()` that completes "must be ..."."""

    def accepts(self, value) -> bool:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


def _bound(x) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


@dataclass(frozen=True)
class Interval(Constraint):
    """A number of `type` (Integral or Real; a Real is finite, a bool is neither) between `left` and
    `right` (None: unbounded), `closed` "left", "right", "both" or "neither". `what` names it in
    messages in place of "an integer" / "a number" (e.g. "a side in pixels")."""

    type: type
    left: float | None
    right: float | None
    closed: str = "both"
    what: str = ""

    def accepts(self, value) -> bool:
        if isinstance(value, bool) or not isinstance(value, self.type if self.type is Integral else Real):
            return False
        if not math.isfinite(value):
            return False
        lo_ok = self.left is None or (value >= self.left if self.closed in ("left", "both") else value > self.left)
        hi_ok = self.right is None or (value <= self.right if self.closed in ("right", "both") else value < self.right)
        return lo_ok and hi_ok

    def describe(self) -> str:
        integer = self.type is Integral
        noun = self.what or ("an integer" if integer else "a number")
        left_closed, right_closed = self.closed in ("left", "both"), self.closed in ("right", "both")
        if self.left is not None and self.right is not None:
            if left_closed and right_closed:
                return f"{noun} from {_bound(self.left)} to {_bound(self.right)}"
            return (f"{noun} in {'[' if left_closed else '('}{_bound(self.left)}, {_bound(self.right)}"
                    f"{']' if right_closed else ')'}")
        if self.left is not None:
            if not self.what and ((integer and self.left == 1 and left_closed) or (self.left == 0 and not left_closed)):
                return f"a positive {'integer' if integer else 'number'}"
            return f"{noun} {'>=' if left_closed else '>'} {_bound(self.left)}"
        if self.right is not None:
            return f"{noun} {'<=' if right_closed else '<'} {_bound(self.right)}"
        return "a finite number" if not integer and not self.what else noun


@dataclass(frozen=True)
class Options(Constraint):
    """One of `choices` (kept in the order given, for messages)."""

    choices: tuple

    def __init__(self, choices: Iterable):
        object.__setattr__(self, "choices", tuple(choices))

    def accepts(self, value) -> bool:
        try:
            return value in self.choices
        except TypeError:  # an unhashable value against a set-like choice
            return False

    def describe(self) -> str:
        return "one of " + ", ".join(map(str, self.choices))


@dataclass(frozen=True)
class OfType(Constraint):
    """An instance of `type` (bool is not an int), described as `what`."""

    type: type
    what: str

    def accepts(self, value) -> bool:
        return isinstance(value, self.type) and not (isinstance(value, bool) and self.type is not bool)

    def describe(self) -> str:
        return self.what


@dataclass(frozen=True)
class ListOf(Constraint):
    """A list (or tuple) of `min_len` or more entries (`max_len` at most), each accepted by `item`."""

    item: Constraint
    min_len: int = 1
    max_len: int | None = None

    def accepts(self, value) -> bool:
        return (isinstance(value, (list, tuple)) and len(value) >= self.min_len
                and (self.max_len is None or len(value) <= self.max_len) and all(map(self.item.accepts, value)))

    def describe(self) -> str:
        if self.max_len is not None and self.max_len == self.min_len:
            return f"a list of {self.min_len} {_plural(self.item.describe())}"
        size = "a non-empty" if self.min_len == 1 else ("a" if self.min_len == 0 else f"{self.min_len} or more")
        return f"{size} list of {_plural(self.item.describe())}"


def _plural(description: str) -> str:
    """'an integer >= 0' -> 'integers >= 0', for "a list of ..."."""
    for single, many in (("an integer", "integers"), ("a number", "numbers"), ("a positive integer",
                         "positive integers"), ("a positive number", "positive numbers"), ("a name", "names")):
        if description.startswith(single):
            return many + description[len(single):]
    return description


BOOLEAN = OfType(bool, "true or false")
TEXT = OfType(str, "a name")
POSITIVE_INT = Interval(Integral, 1, None, closed="left")
NONNEG_INT = Interval(Integral, 0, None, closed="left")
POSITIVE = Interval(Real, 0, None, closed="neither")
NONNEG = Interval(Real, 0, None, closed="left")
FINITE = Interval(Real, None, None)
FRACTION = Interval(Real, 0, 1, closed="left")          # 0 <= value < 1
PROBABILITY = Interval(Real, 0, 1, closed="right")      # 0 < value <= 1
SIDE = Interval(Integral, 1, MAX_SIDE, what="a side in pixels")
WORKERS = Interval(Integral, 1, MAX_WORKERS, what="a number of processes")
IMBALANCE = Interval(Real, 1, None, closed="left", what="an imbalance factor n_max / n_min")
# classifier-free guidance w (1: the plain conditional model; papers use 1-15): above 50 is a typo
GUIDANCE = Interval(Real, 0, 50, what="a guidance scale")


# ----------------------------------------------------------------------------- checks
def describe(allowed) -> str:
    """"an integer >= 1 or null": what `allowed` (constraints, None for null) accept."""
    parts = [c.describe() for c in allowed if c is not None] + (["null"] if None in allowed else [])
    return " or ".join(parts)


def accepted(value, allowed) -> bool:
    return any((value is None) if c is None else c.accepts(value) for c in allowed)


def failure(name: str, need: str, value) -> ConfigError:
    """The one wording: `NAME: must be NEED, got VALUE` (with a "did you mean" for a near choice)."""
    hint = ""
    if isinstance(value, str) and need.startswith("one of "):
        hint = did_you_mean(value, [c.strip() for c in need[len("one of "):].split(",")])
    return ConfigError(f"{name}: must be {need}, got {value!r}{hint}")


def check(name: str, value, *allowed):
    """`value` when one of `allowed` (constraints; None admits null) accepts it, else a ConfigError."""
    if not accepted(value, allowed):
        raise failure(name, describe(allowed), value)
    return value


def check_fields(obj, constraints: Mapping[str, tuple], where: str) -> None:
    """Every field of `obj` named in `constraints` ({field: allowed}), checked as "WHERE FIELD"."""
    for name, allowed in constraints.items():
        check(f"{where} {name}".strip(), getattr(obj, name), *allowed)


def check_int(name: str, value, low: int = 0, high: int | None = None, optional: bool = False) -> int | None:
    """An integer in [low, high] (null too with `optional`): the shorthand most specs need."""
    check(name, value, Interval(Integral, low, high, closed="both" if high is not None else "left"),
          *([None] if optional else []))
    return None if value is None else int(value)


def check_number(name: str, value, low: float | None = None, high: float | None = None,
                 open_low: bool = False) -> float:
    """A finite number in [low, high] ((low, high] with `open_low`), as a float."""
    closed = ("right" if open_low else "both") if high is not None else ("neither" if open_low else "left")
    if low is None:
        closed = "right" if high is not None else "neither"
    return float(check(name, value, Interval(Real, low, high, closed=closed)))


def check_choice(name: str, value, choices):
    return check(name, value, Options(choices))


# ----------------------------------------------------------------------------- argparse
def arg_type(constraint: Interval) -> Callable[[str], Any]:
    """An argparse `type=` for a numeric constraint: the text parsed as its type, then checked; a
    failure is argparse's `argument --flag: must be ..., got VALUE` (exit 2)."""
    integer = constraint.type is Integral

    def parse(text: str):
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if integer else 'a number'}") from None
        if not integer and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if not constraint.accepts(value):
            raise argparse.ArgumentTypeError(f"must be {constraint.describe()}, got {value!r}")
        return value

    parse.__name__ = constraint.what or ("integer" if integer else "number")  # argparse names the type by it
    return parse
