"""Readers of the group datasets (UTKFace, Waterbirds, CelebA): synaug.data.group_readers."""

import numpy as np
import pytest
from PIL import Image

from synaug.data import load_dataset
from synaug.data.group_readers import parse_utkface_name, read_utkface
from synaug.errors import DatasetError


def _img(path, value=100, size=(20, 20)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((*size, 3), value, dtype=np.uint8)).save(path)


# ----------------------------------------------------------------------------- readers


def test_utkface_strict_names_others_dropped_and_skips_reported(tmp_path):
    good = ["25_0_0_20170116174525125.jpg.chip.jpg", "30_1_1_20170109142408075.jpg",
            "41_1_2_20170116184028385.jpg.chip.jpg", "8_0_3_20170110122813145.jpg.chip.jpg",
            "60_0_4_20170117191413564.jpg.chip.jpg"]  # race 4 = Others: dropped, not an error
    bad = ["61_1_20170109142408075.jpg.chip.jpg",    # missing race
           "53_1_0 _20170116184028385.jpg.chip.jpg",  # stray space
           "39_1_0_20170116174525125jpg.chip.jpg"]    # missing dot
    for i, name in enumerate(good + bad):
        _img(tmp_path / name, 10 * i)
    assert parse_utkface_name(good[0]) == {"age": 25, "gender": 0, "race": 0}
    ds = read_utkface(tmp_path, size=16)
    assert ds.class_names == ["male", "female"] and ds.group_names == ["White", "Black", "Asian", "Indian"]
    assert len(ds) == 4 and sorted(zip(ds.labels.tolist(), ds.groups.tolist())) == [(0, 0), (0, 3), (1, 1), (1, 2)]
    assert sorted(p.rsplit("/", 1)[-1] for p, _ in ds.skipped) == sorted(bad)
    assert all("malformed" in reason for _, reason in ds.skipped)
    assert ds.images[0].shape == (16, 16, 3)
    swapped = read_utkface(tmp_path, target="race", group="gender", drop_races=())
    assert len(swapped.class_names) == 5 and swapped.group_names == ["male", "female"]
    with pytest.raises(DatasetError, match="target must be"):
        read_utkface(tmp_path, target="age")


def test_waterbirds_metadata_groups_and_splits(tmp_path):
    rows = ["img_id,img_filename,y,split,place,place_filename"]
    spec = [(0, 0, 0), (0, 0, 1), (1, 0, 0), (1, 0, 1), (0, 1, 1), (1, 1, 0), (1, 2, 1), (0, 2, 0)]
    for i, (y, split, place) in enumerate(spec):
        name = f"{i:03d}.Bird/img_{i}.jpg"
        _img(tmp_path / name, 20 * i)
        rows.append(f"{i},{name},{y},{split},{place},/x/{i}.jpg")
    (tmp_path / "metadata.csv").write_text("\n".join(rows) + "\n")
    s = load_dataset(f"waterbirds:{tmp_path}", size=8)
    assert (len(s.train), len(s.val), len(s.test)) == (4, 2, 2)
    expected = [2 * y + p for y, split, p in spec if split == 0]
    assert s.train.cells().tolist() == expected  # Waterbirds' group = 2 * y + place
    assert s.train.class_names == ["landbird", "waterbird"] and s.train.group_names == ["land", "water"]
    assert s.test.images[0].shape == (8, 8, 3)


def test_celeba_attributes_and_partition(tmp_path):
    files = [f"{i:06d}.jpg" for i in range(1, 7)]
    attrs = ["5_o_Clock_Shadow", "Blond_Hair", "Male"]
    values = [(1, 1, -1), (-1, -1, 1), (1, 1, 1), (-1, -1, -1), (1, 1, -1), (-1, 1, 1)]
    lines = [str(len(files)), " ".join(attrs)] + [f"{f}  " + " ".join(f"{v:2d}" for v in vals)
                                                   for f, vals in zip(files, values)]
    (tmp_path / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "list_eval_partition.txt").write_text("\n".join(f"{f} {p}" for f, p in zip(files, [0, 0, 0, 1, 2, 2])) + "\n")
    for f in files:
        _img(tmp_path / "img_align_celeba" / f)
    s = load_dataset(f"celeba:{tmp_path}", size=8)
    assert s.train.labels.tolist() == [1, 0, 1] and s.train.groups.tolist() == [0, 1, 1]
    assert s.train.class_names == ["not Blond_Hair", "Blond_Hair"] and len(s.test) == 2
    with pytest.raises(DatasetError, match="unknown CelebA attribute 'Wavy_Hair'"):
        load_dataset(f"celeba:{tmp_path}", target="Wavy_Hair")


# ----------------------------------------------------------------------------- embedded stand-ins
