"""What plan.json records: one truth per value."""

import json

import numpy as np
import pytest
from PIL import Image

from synaug import api
from synaug.plans import recorded_imbalance

COUNTS = {"cat": 10, "dog": 4, "emu": 2}  # a user's long tail: measured factor 5


@pytest.fixture
def user_folder(tmp_path):
    """root/{train,test}/<class>/*.png, 8x8 RGB, `COUNTS` training images per class, 2 test images."""
    root = tmp_path / "photos"
    for split, counts in (("train", COUNTS), ("test", dict.fromkeys(COUNTS, 2))):
        for c, (name, n) in enumerate(counts.items()):
            (root / split / name).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(np.full((8, 8, 3), 20 * c + i, np.uint8)).save(root / split / name / f"{i}.png")
    return root


def test_plan_json_records_the_measured_imbalance_of_a_users_folder(user_folder, tmp_path):
    api.plan(f"imagefolder:{user_folder}", tmp_path / "p" / "plan.csv", imbalance=100, strategy="uniform")
    meta = json.loads((tmp_path / "p" / "plan.json").read_text())
    assert meta["imbalance"] == 5.0 and "imbalance" not in meta["dataset_info"]


def test_recorded_imbalance_keeps_the_factor_synaug_built_with():
    assert recorded_imbalance(100, {"imbalance": 100}, [500, 5]) == 100.0
    assert recorded_imbalance(100, {}, [400, 0, 8]) == 50.0  # an empty class does not make it infinite
    assert recorded_imbalance(100, {}, [7]) is None
