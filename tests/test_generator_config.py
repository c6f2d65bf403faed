"""Backends record their configuration once: `describe()` (the run record and the shared folders'
fingerprints, hence job keys) stays byte-identical for every backend at its defaults and with
non-default options. The pinned values were captured from the code before backends recorded their
configuration with `synaug.generators.recorded` (a changed value would orphan stored runs)."""

import json
from pathlib import Path

import pytest

from synaug.generators import GENERATORS, make_generator
from synaug.generators.recorded import as_json
from synaug.generators.runner import fingerprint

from helpers import tiny_splits

CASES = {  # case id: (backend, context, options)
    "render-default": ("render", "shape", {}),
    "render-facts": ("render", "full", {}),
    "render-degrade": ("render", "full", {"degrade": 0.5}),
    "diffusion-default": ("diffusion", "full", {}),
    "diffusion-options": ("diffusion", "full", {"model": "m", "steps": 12, "guidance": 3, "scheduler": "ddim",
                                                "img2img": "intra", "strength": 0.5, "lora": "L", "gen_size": 256,
                                                "negative_prompt": "x", "max_redraws": 1, "device": "cpu"}),
    "smote-default": ("smote", "full", {}),
    "smote-options": ("smote", "full", {"k_neighbors": 3}),
    "heldout-default": ("heldout", "full", {}),
    "heldout-options": ("heldout", "full", {"seed": 4, "when_short": "skip"}),
    "ddpm-default": ("ddpm", "full", {"model": "GEN"}),
    "ddpm-options": ("ddpm", "full", {"model": "GEN", "steps": 10.0, "guidance": 3, "scheduler": "dpm-solver",
                                      "batch": 8}),
}


def context(kind: str) -> dict:
    if kind == "shape":
        return {"image_shape": (28, 28, 1)}
    splits, syn = tiny_splits()
    return dict(image_shape=(12, 12, 1), class_names=["a", "b", "c"], group_names=["dim", "bright"],
                aliases={"b": "bee"}, render_words={"c": "7"}, unspecified_groups=["dim"], real=splits.train,
                unused=syn)


def make_model_folder(root: Path) -> None:
    """A ddpm model folder with a fixed checkpoint (its sha256 is in describe(); no fit needed)."""
    (root / "GEN").mkdir()
    (root / "GEN" / "checkpoint.pt").write_bytes(b"weights")


PINNED = {
    'render-default': ('{"generator": "render", "size": [28, 28], "channels": 1, "unspecified_groups": []}',
        '9ba6785cd6e178d39f5e6a8265429a7d0f94c8a860128623a5ff3771e7c06eca'),
    'render-facts': ('{"generator": "render", "size": [12, 12], "channels": 1, "unspecified_groups": ["dim"], "aliases": {"b": "bee"}, "render_words": {"c": "7"}}',
        'cc1128beb6ef0b25a2424fee70cf85e81ccd0a577026732ad700158a0b6d6630'),
    'render-degrade': ('{"generator": "render", "size": [12, 12], "channels": 1, "unspecified_groups": ["dim"], "aliases": {"b": "bee"}, "render_words": {"c": "7"}, "degrade": 0.5}',
        'babfed82aa2964e22b2924c3c7831239f642884bbe087bc23389968fa4bf20b6'),
    'diffusion-default': ('{"generator": "diffusion", "model": "None", "scheduler": "default", "steps": 30, "guidance": 7.5, "negative_prompt": "", "gen_size": null, "save_size": 12, "save_channels": 1, "img2img": null, "strength": null, "safety_checker": true}',
        '508399132e62bb7deec382d5ce89e313563eb38719e5b7ef82efaa3a3526f6d7'),
    'diffusion-options': ('{"generator": "diffusion", "model": "m", "scheduler": "ddim", "steps": 12, "guidance": 3.0, "negative_prompt": "x", "gen_size": 256, "save_size": 12, "save_channels": 1, "img2img": "intra", "strength": 0.5, "safety_checker": true, "lora": "L"}',
        '99e1626b93b9df91925d68972447b9549a6bb7dc9ecfc066a7a5d997c0c55208'),
    'smote-default': ('{"generator": "smote", "k_neighbors": 5, "real_images": 46, "real_digest": 381315}',
        'dc96ba8c9760f3efd4bcb2b56206d7c4691946f0fa2410d05683e19343df77b1'),
    'smote-options': ('{"generator": "smote", "k_neighbors": 3, "real_images": 46, "real_digest": 381315}',
        '96e8d4a75696679a647777f79d3fe18e701de99208b6440ca9fe5c346fb1c0c8'),
    'heldout-default': ('{"generator": "heldout", "seed": 0, "pool_images": 44, "pool_digest": 366094}',
        '4f1ae806d3ce0f94d559aed39a887fab97009370867edcbb9bf405dc777c6331'),
    'heldout-options': ('{"generator": "heldout", "seed": 4, "pool_images": 44, "pool_digest": 366094}',
        '9e26af65b0000211543bd54dd074e173021473e353d883851bdf69f6e0e3a939'),
    'ddpm-default': ('{"generator": "ddpm", "model": "GEN", "checkpoint_sha256": "9a129038d9a00aed0cf6a7ea059ca50a813449061ab87848cf1a13eafdf33b2c", "steps": 50, "guidance": 2.0, "scheduler": "ddim", "image_shape": [12, 12, 1]}',
        '3aaa87b98a267331675d07e6b087ae64e56968abb51b017058027e7a6482e1b0'),
    'ddpm-options': ('{"generator": "ddpm", "model": "GEN", "checkpoint_sha256": "9a129038d9a00aed0cf6a7ea059ca50a813449061ab87848cf1a13eafdf33b2c", "steps": 10, "guidance": 3.0, "scheduler": "dpm-solver", "image_shape": [12, 12, 1]}',
        '23a62c59f35d15cb8606c111e10affade86c3b236bdf2ea642bd33770bb40321'),
}


def test_every_registered_backend_is_pinned():
    assert {name for name, _, _ in CASES.values()} == set(GENERATORS)


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_describe_and_fingerprint_are_unchanged(case_id, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the ddpm model path is recorded as given: a relative one is the same everywhere
    make_model_folder(tmp_path)
    name, kind, options = CASES[case_id]
    generator = make_generator(name, context(kind), **options)
    described, digest = PINNED[case_id]
    assert json.dumps(generator.describe()) == described  # key order too: the run record lists them so
    assert fingerprint([], generator) == digest


def test_config_holds_every_recorded_setting_and_describe_the_described_ones():
    """The record is the constructor's settings after its checks; describe() shows the described part
    (heldout's when_short and diffusion's device are recorded, never fingerprinted)."""
    heldout = make_generator("heldout", context("full"), seed=4.0, when_short="skip")
    assert dict(heldout.config) == {"seed": 4, "when_short": "skip"} and isinstance(heldout.config["seed"], int)
    assert "when_short" not in heldout.describe()
    diffusion = make_generator("diffusion", context("full"), steps=12, device="cpu", max_redraws=1)
    assert diffusion.config["steps"] == 12 and diffusion.config["device_name"] == "cpu"
    assert diffusion.config["max_redraws"] == 1 and "device_name" not in diffusion.describe()
    with pytest.raises(TypeError):
        diffusion.config["steps"] = 3  # read-only: a setting changes through its attribute, and the record follows
    diffusion.steps = 3
    assert diffusion.config["steps"] == 3 and diffusion.describe()["steps"] == 3


def test_described_values_are_written_as_json_shows_them():
    assert as_json({"b": (1, Path("x")), "a": [{"d": 1, "c": 2}]}) == {"a": [{"c": 2, "d": 1}], "b": [1, "x"]}
    assert list(as_json({"b": 1, "a": 2})) == ["a", "b"]
