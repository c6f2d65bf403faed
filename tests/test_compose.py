"""Methods composed with '+' ("A+B": A's recipe with B's algorithm on top): the fields each
composition gets, the errors for unknown or empty parts, and composed names wherever a method name
is accepted (train_method, `synaug train` + `synaug evaluate --run`, a run config)."""

import json
from dataclasses import fields, replace

import pytest
import yaml

from synaug.cli import main
from synaug.errors import ConfigError, SynaugError
from synaug.experiments.config import resolve_config
from synaug.experiments.runner import run_experiment
from synaug.training.config import TrainConfig
from synaug.training.methods import METHODS, Method, get_method
from synaug.training.pipeline import train_method

from helpers import tiny_cfg, tiny_splits


def recipe(m: Method) -> dict:
    """Everything but the name and description."""
    return {f.name: getattr(m, f.name) for f in fields(Method) if f.name not in ("name", "description")}


# (composition, the fields expected, written out by hand from the rule)
CASES = [
    ("synaug+balanced-softmax", dict(loss="balanced-softmax", transform="mixup", pairing="domain", synthetic=True,
                                     stage2="finetune", sampler="shuffle")),
    ("uniformize+ldam-drw", dict(loss="ldam-drw", head="cosine", transform="none", synthetic=True, stage2=None)),
    ("synaug+ldam-drw", dict(loss="ldam-drw", head="cosine", transform="mixup", synthetic=True, stage2="finetune")),
    ("synaug+wb", dict(stage2="wb", train=(("weight_decay", 5e-3),), transform="mixup", synthetic=True, loss="ce")),
    ("synaug+group-dro", dict(loss="group-dro", transform="mixup", synthetic=True, stage2="finetune")),
    ("synaug+rs", dict(sampler="cell-balanced", transform="mixup", synthetic=True, stage2="finetune")),
    ("synaug+ce-rs", dict(sampler="class-balanced", transform="mixup", synthetic=True)),
    ("uniformize+balanced-softmax+wb", dict(loss="balanced-softmax", stage2="wb", synthetic=True,
                                            transform="none", train=(("weight_decay", 5e-3),))),
    ("synaug-classes+ldam-drw", dict(use_groups=False, loss="ldam-drw", stage2="finetune")),
    ("dfr+balanced-softmax", dict(stage2="dfr", stage2_data="val", loss="balanced-softmax")),
]


@pytest.mark.parametrize("name,expected", CASES)
def test_a_composition_is_the_left_recipe_with_the_right_algorithm_on_top(name, expected):
    m = get_method(name)
    assert m.name == name and m.description == " + ".join(METHODS[p].description for p in name.split("+"))
    got = recipe(m)
    for key, value in expected.items():
        assert got[key] == value, (name, key)


@pytest.mark.parametrize("composed,registered", [("ce+cmo", "ce-cmo"), ("ldam-drw+cmo", "ldam-drw-cmo"),
                                                 ("synaug+cutmix", "synaug-cutmix"),
                                                 ("ldam-drw+ce-cmo", "ldam-drw-cmo")])
def test_compositions_equal_the_registered_methods_they_spell(composed, registered):
    assert recipe(get_method(composed)) == recipe(METHODS[registered])


def test_a_right_part_keeps_the_left_ones_fields_it_leaves_at_their_defaults():
    # mixup's random pairing is the default: uniformize+mixup is uniformize with Mixup, random partners
    assert recipe(get_method("uniformize+mixup")) == recipe(replace(METHODS["uniformize"], transform="mixup"))
    assert get_method("synaug+cutmix").pairing == "domain"  # synaug's domain pairing is kept


@pytest.mark.parametrize("name", ["ce+ce", "synaug+ce", "synaug+uniformize", "synaug+mixup", "wb+wb"])
def test_a_part_that_adds_nothing_is_refused(name):
    with pytest.raises(ConfigError, match="adds nothing"):
        get_method(name)


def test_cmo_sampler_without_its_transform_is_refused_before_any_work():
    with pytest.raises(ConfigError, match="do not fit together"):
        get_method("cmo+mixup")


@pytest.mark.parametrize("name,stage2,data", [("dfr+synaug", "finetune", "train"), ("synaug+dfr", "dfr", "val"),
                                              ("synaug-dfr+wb", "wb", "train"), ("synaug-dfr+cmo", "dfr", "val")])
def test_a_stage2_recipe_comes_with_the_data_it_trains_on(name, stage2, data):
    m = get_method(name)
    assert (m.stage2, m.stage2_data) == (stage2, data)


def test_the_right_parts_training_overrides_win_and_merge():
    a = replace(METHODS["wb"], name="a", train=(("weight_decay", 1e-3), ("lr", 0.2)))
    METHODS.add("test-a", a)
    try:
        m = get_method("test-a+wb")
        assert dict(m.train) == {"weight_decay": 5e-3, "lr": 0.2}
    finally:
        del METHODS["test-a"]


@pytest.mark.parametrize("name,message", [("synaug+ldam-drv", r"unknown method 'ldam-drv'.*ldam-drw"),
                                          ("sinaug+wb", r"unknown method 'sinaug'.*synaug"),
                                          ("uniformize-mixup+finetune-free", "unknown method 'finetune-free'"),
                                          ("synaug+", "empty part"), ("+wb", "empty part")])
def test_unknown_or_empty_parts_are_clear_errors(name, message):
    with pytest.raises(SynaugError, match=message):
        get_method(name)


def test_every_methods_training_overrides_are_training_options():
    names = {f.name for f in fields(TrainConfig)}
    for m in METHODS.values():
        assert all(k in names for k, _ in m.train), m.name


def test_wb_stage2_on_a_cosine_head_is_refused_before_training(tmp_path):
    splits, syn = tiny_splits()
    with pytest.raises(ConfigError, match="stage 2 'wb' works on a linear head, not 'cosine'"):
        train_method(get_method("ldam-drw+wb"), splits, tiny_cfg(), tmp_path / "r", progress=False)
    assert not (tmp_path / "r" / "stage1.pt").exists()


def test_cmo_sampler_without_its_transform_is_refused(tmp_path):
    splits, syn = tiny_splits()
    with pytest.raises(ConfigError, match="CMO needs both its sampler and its transform"):
        train_method(get_method("ce-cmo+mixup"), splits, tiny_cfg(), tmp_path / "r", progress=False)


@pytest.mark.parametrize("name", ["synaug+wb", "uniformize+ldam-drw", "synaug+balanced-softmax"])
def test_a_composed_method_trains_and_records_its_name(name, tmp_path):
    splits, syn = tiny_splits()
    run = tmp_path / "r"
    trained = train_method(get_method(name), splits, tiny_cfg(), run, synthetic=syn, progress=False)
    assert not (run / "run.json").exists()  # one identity: job.json, the engine's (train_method writes none)
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["method"] == name
    assert config["train"]["weight_decay"] == dict(get_method(name).train).get("weight_decay", 5e-4)
    assert (run / "stage2.pt").is_file() == bool(get_method(name).stage2)
    assert type(trained.model.classifier).__name__ == ("NormedLinear" if "ldam" in name else "Linear")


def test_synaug_train_and_evaluate_take_a_composed_method(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--dataset", "mnist-lt", "--method", "ldam-drw+cmo", "--steps", "12",
                 "--stage2-steps", "3", "--out", str(run)]) == 0
    first = json.loads((run / "metrics.json").read_text())
    assert json.loads((run / "job.json").read_text())["method"] == "ldam-drw+cmo"  # the run's one identity
    # load_trained rebuilds the composed method's cosine head from the run's config.yaml
    assert main(["evaluate", "--dataset", "mnist-lt", "--run", str(run)]) == 0
    assert json.loads((run / "metrics.json").read_text())["accuracy"] == first["accuracy"]
    assert main(["train", "--dataset", "mnist-lt", "--method", "ce+ldam-drv", "--out", str(tmp_path / "x")]) == 2
    assert "unknown method 'ldam-drv'" in capsys.readouterr().err


def test_a_run_config_takes_composed_methods_and_refuses_unknown_parts(tmp_path):
    cfg = resolve_config({"task": "longtail", "dataset": "mnist-lt", "methods": ["synaug+wb", "ldam-drw+cmo"]})
    assert cfg.methods == ("synaug+wb", "ldam-drw+cmo")
    with pytest.raises(SynaugError, match="unknown method 'wbb'"):
        resolve_config({"task": "longtail", "dataset": "mnist-lt", "methods": ["synaug+wbb"]})


def test_a_run_config_trains_a_composed_method_end_to_end(tmp_path):
    cfg = resolve_config({"task": "longtail", "dataset": "mnist-lt", "methods": ["ce+wb"], "seeds": [0],
                          "train": {"steps": 10, "stage2_steps": 3}, "out": str(tmp_path / "exp")})
    results = run_experiment(cfg, progress=False, log=lambda *a, **k: None)
    assert results["rows"]["ce+wb"]["description"] == get_method("ce+wb").description
    run = tmp_path / "exp" / "runs" / "ce+wb" / "seed0"
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["weight_decay"] == 5e-3
    assert (run / "stage2.pt").is_file()
