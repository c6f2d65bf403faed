"""The one constraint vocabulary (`synaug.constraints`): what each constraint accepts, against the
plain comparisons it stands for, and the one wording every refusal shares (config, spec, argparse)."""

from __future__ import annotations

import argparse
import inspect
import math
from numbers import Integral, Real

import pytest

from synaug.audit import filter as audit_filter, recipe
from synaug.constraints import (BOOLEAN, FEW, MANY, MAX_RATIO, MAX_SIDE, MAX_WORKERS, POSITIVE_INT, SIDE, Interval,
                                ListOf, Options, arg_type, check, check_int, check_number)
from synaug.engine.specs import GeneratorSpec, Thresholds
from synaug.errors import ConfigError
from synaug.eval import metrics
from synaug.generators.ddpm_settings import FitSettings
from synaug.training.config import TrainConfig

VALUES = [-2, -1, 0, 0.5, 1, 1.5, 2, 3, 10, True, False, math.inf, math.nan, "1", None]


@pytest.mark.parametrize("closed,ok", [
    ("both", lambda v: 0 <= v <= 2), ("left", lambda v: 0 <= v < 2), ("right", lambda v: 0 < v <= 2),
    ("neither", lambda v: 0 < v < 2)])
def test_an_interval_accepts_what_its_comparison_says(closed, ok):
    for kind in (Integral, Real):
        c = Interval(kind, 0, 2, closed=closed)
        for v in VALUES:
            typed = (isinstance(v, int) if kind is Integral else isinstance(v, (int, float))) \
                and not isinstance(v, bool) and v is not None and not isinstance(v, str)
            expected = typed and math.isfinite(v) and ok(v)
            assert c.accepts(v) == expected, (kind, closed, v)


def test_descriptions_and_the_one_wording():
    assert Interval(Integral, 1, None, closed="left").describe() == "a positive integer"
    assert Interval(Integral, 0, None, closed="left").describe() == "an integer >= 0"
    assert Interval(Real, 0, 1, closed="left").describe() == "a number in [0, 1)"
    assert Interval(Real, 0, 1, closed="right").describe() == "a number in (0, 1]"
    assert SIDE.describe() == f"a side in pixels from 1 to {MAX_SIDE}"
    assert ListOf(Interval(Real, 0, 1), 2, 2).describe() == "a list of 2 numbers from 0 to 1"
    with pytest.raises(ConfigError, match=r"^x: must be a positive integer or null, got 0$"):
        check("x", 0, POSITIVE_INT, None)
    with pytest.raises(ConfigError, match=r"^y: must be one of sgd, adam, got 'sgdd'; did you mean 'sgd'\?$"):
        check("y", "sgdd", Options(("sgd", "adam")))
    with pytest.raises(ConfigError, match=r"^z: must be true or false, got 1$"):
        check("z", 1, BOOLEAN)
    assert check("x", None, POSITIVE_INT, None) is None
    assert check_int("n", 3, 1, 5) == 3 and check_number("r", 2, 1) == 2.0
    with pytest.raises(ConfigError, match=r"^r: must be a number >= 1, got 0.5$"):
        check_number("r", 0.5, 1)


def test_flags_and_config_keys_refuse_a_value_with_the_same_words():
    workers = arg_type(Interval(Integral, 1, MAX_WORKERS, what="a number of processes"))
    with pytest.raises(argparse.ArgumentTypeError, match=r"^must be a number of processes from 1 to 256, got 0$"):
        workers("0")
    with pytest.raises(argparse.ArgumentTypeError, match=r"^'x' is not an integer$"):
        workers("x")
    with pytest.raises(argparse.ArgumentTypeError, match=r"^'inf' is not a finite number$"):
        arg_type(Interval(Real, 0, None))("inf")
    assert workers("4") == 4
    with pytest.raises(ConfigError, match=r"^training option cache_workers: must be a number of processes from 1 to "
                                          r"256, got 0$"):
        TrainConfig(cache_workers=0)
    with pytest.raises(ConfigError, match=r"^generate workers: must be a number of processes from 1 to 256, got 0$"):
        GeneratorSpec(workers=0)


def test_defaults_live_once():
    assert (Thresholds().many, Thresholds().few) == (MANY, FEW) == (100, 20)
    assert inspect.signature(metrics.longtail_metrics).parameters["many"].default == MANY
    assert inspect.signature(audit_filter.filter_folder).parameters["max_ratio"].default == MAX_RATIO == 2.0
    assert recipe.RecipeConfig().max_ratio == MAX_RATIO


def test_fit_settings_refuse_a_denoiser_that_cannot_exist():
    with pytest.raises(ConfigError, match=r"ddpm fit arch_options channels: must be a non-empty list of integers "
                                          r"from 1 to 4096, got \[32, 0\]"):
        FitSettings(arch_options={"channels": [32, 0]}).check()
    with pytest.raises(ConfigError, match=r"ddpm fit arch_options of 'fast': unknown key 'widths'"):
        FitSettings(arch_options={"widths": [8]}).check()
    with pytest.raises(ConfigError, match=r"ddpm fit arch_options channels: must be multiples of norm_groups \(8\)"):
        FitSettings(arch="unet", arch_options={"channels": [12, 16]}).check()
    with pytest.raises(ConfigError, match=r"ddpm fit beta_schedule: must be one of linear, scaled_linear, "
                                          r"squaredcos_cap_v2, got 'cosine'"):
        FitSettings(beta_schedule="cosine").check()
    FitSettings(arch_options={"channels": [8, 16]}).check()
