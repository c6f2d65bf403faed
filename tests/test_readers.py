import csv
import gzip
import struct

import numpy as np
import pytest
from PIL import Image

from synaug.data.formats import read_cifar, read_idx, read_idx_pair
from synaug.data.readers import read_imagefolder, read_metadata_csv
from synaug.errors import DatasetError

from helpers import write_cifar10


def test_imagefolder_reads_sorted_classes_and_reports_corrupt(imagefolder):
    root, counts = imagefolder
    ds = read_imagefolder(root)
    assert ds.class_names == ["cat", "dog", "emu"]
    assert ds.class_counts().tolist() == [5, 3, 1]
    assert ds.images.shape == (9, 8, 8, 1)
    assert sorted(ds.images[ds.labels == 1][:, 0, 0, 0].tolist()) == [10, 11, 12]
    assert len(ds.skipped) == 1 and ds.skipped[0][0].endswith("broken.png")
    assert "unreadable image" in ds.skipped[0][1]


def test_imagefolder_strict_raises_on_corrupt(imagefolder):
    root, _ = imagefolder
    with pytest.raises(DatasetError, match="broken.png.*unreadable"):
        read_imagefolder(root, strict=True)


def test_imagefolder_unknown_class_folder(imagefolder):
    root, _ = imagefolder
    with pytest.raises(DatasetError, match="unknown class folder"):
        read_imagefolder(root, class_names=["cat", "dog"])


def _write_csv(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def test_metadata_csv_names_groups_splits(tmp_path):
    rows = []
    for i, (label, group, split) in enumerate([("bird", "land", "train"), ("fish", "water", "train"),
                                               ("bird", "water", "test"), ("fish", "land", "train")]):
        Image.fromarray(np.full((6, 6, 3), i, dtype=np.uint8)).save(tmp_path / f"{i}.png")
        rows.append({"file_name": f"{i}.png", "label": label, "group": group, "split": split})
    _write_csv(tmp_path / "metadata.csv", rows)
    ds = read_metadata_csv(tmp_path, split="train")
    assert ds.class_names == ["bird", "fish"] and ds.labels.tolist() == [0, 1, 1]
    assert ds.group_names == ["land", "water"] and ds.groups.tolist() == [0, 1, 0]
    assert ds.cell_counts() == {(0, 0): 1, (0, 1): 0, (1, 0): 1, (1, 1): 1}
    assert ds.images.shape == (3, 6, 6, 3) and ds.images[2, 0, 0, 0] == 3


def test_metadata_csv_unknown_class_is_an_error(tmp_path):
    Image.fromarray(np.zeros((4, 4), dtype=np.uint8)).save(tmp_path / "a.png")
    _write_csv(tmp_path / "metadata.csv", [{"file_name": "a.png", "label": "zebra"}])
    with pytest.raises(DatasetError, match="unknown label 'zebra'"):
        read_metadata_csv(tmp_path, class_names=["cat", "dog"])


def test_metadata_csv_missing_column(tmp_path):
    _write_csv(tmp_path / "metadata.csv", [{"file_name": "a.png"}])
    with pytest.raises(DatasetError, match="required column 'label'"):
        read_metadata_csv(tmp_path)


def _idx_bytes(arr: np.ndarray) -> bytes:
    return bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def test_idx_roundtrip_gz_and_plain(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (7, 5, 4), dtype=np.uint8)
    labels = np.array([0, 1, 2, 0, 1, 2, 2], dtype=np.uint8)
    with gzip.open(tmp_path / "img.gz", "wb") as f:
        f.write(_idx_bytes(images))
    (tmp_path / "lab").write_bytes(_idx_bytes(labels))
    assert np.array_equal(read_idx(tmp_path / "img.gz"), images)
    ds = read_idx_pair(tmp_path / "img.gz", tmp_path / "lab")
    assert ds.images.shape == (7, 5, 4, 1) and ds.class_counts().tolist() == [2, 2, 3]


def test_idx_bad_magic_and_truncated(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(DatasetError, match="bad magic"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(_idx_bytes(np.zeros((3, 2), dtype=np.uint8))[:-2])
    with pytest.raises(DatasetError, match="header says"):
        read_idx(tmp_path / "short")


def test_cifar10_str_keys_chw_order(tmp_path):
    img = np.zeros((2, 3, 32, 32), dtype=np.uint8)
    img[0, 0] = 200  # red channel of image 0
    img[1, 2] = 100  # blue channel of image 1
    batch = (img.reshape(2, -1), [3, 7])
    write_cifar10(tmp_path, [batch] * 5, batch, [f"n{i}" for i in range(10)], byte_keys=False)
    ds = read_cifar(tmp_path)
    assert len(ds) == 10 and ds.class_names[3] == "n3"
    assert ds.images.shape == (10, 32, 32, 3)
    assert ds.images[0, 5, 5].tolist() == [200, 0, 0] and ds.images[1, 5, 5].tolist() == [0, 0, 100]


def test_metadata_csv_group_column_option_and_cell_plan(tmp_path, capsys):
    from synaug.cli import main

    rows = []
    for i, (label, skin, split) in enumerate([("cat", "dark", "train"), ("cat", "light", "train"),
                                              ("cat", "light", "train"), ("dog", "dark", "train"),
                                              ("dog", "light", "test"), ("cat", "dark", "test")]):
        Image.fromarray(np.full((6, 6), i * 9, dtype=np.uint8)).save(tmp_path / f"{i}.png")
        rows.append({"file_name": f"{i}.png", "label": label, "tone": skin, "split": split})
    _write_csv(tmp_path / "metadata.csv", rows)
    ds = read_metadata_csv(tmp_path, split="train", group_column="tone")
    assert ds.group_names == ["dark", "light"] and ds.groups.tolist() == [0, 1, 1, 0]
    with pytest.raises(DatasetError, match="no group column 'race'"):
        read_metadata_csv(tmp_path, group_column="race")
    out = tmp_path / "plan.csv"
    assert main(["plan", "--dataset", f"csv:{tmp_path / 'metadata.csv'}", "--group-column", "tone",
                 "--generator", "diffusion", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "dog / light" in text and text.splitlines()[-2].split() == ["total", "4", "0", "4", "8"]
