"""ImageNet-LT style list files: `relative/path label` lines over an ImageNet folder.

This is how the field distributes ImageNet100-LT (Jiang et al. 2021, SDCLR: VITA-Group/SDCLR,
`split/imagenet-100/`) and ImageNet-LT (Liu et al. 2019; the same format, `ImageNet_LT_*.txt`):

    train/n02869837/n02869837_7193.JPEG 0            <- imageNet_100_LT_train.txt (12,205 lines)
    train/n01558993/n01558993_14168.JPEG 26          <- ImageNet_100_val.txt (20 per class, held out of train/)
    val/n01558993/ILSVRC2012_val_00012651.JPEG 26    <- ImageNet_100_test.txt (the 50 ImageNet validation
                                                        images of each class, val/ sorted into wnid folders)

Paths are relative to the ImageNet root; labels are integers 0..C-1 (their order is the list's,
not the sorted wnids'). SDCLR's `LT_Dataset` reads `line.split()[0]`, `int(line.split()[1])`.

Dataset specs (see `load_dataset`):
- `imagenet100-lt:ROOT`: SDCLR's file names, looked up in ROOT, ROOT/split/imagenet-100 and
  ROOT/splits/imagenet100 (where SDCLR's and its forks' checkouts keep them).
- `imagenet-lt:ROOT`: the same reader for any list files; without options it finds SDCLR's
  ImageNet100-LT files or Liu et al.'s `ImageNet_LT_{train,val,test}.txt` (in ROOT or
  ROOT/split/ImageNet_LT or ROOT/data/ImageNet_LT), and asks you to choose when both are there.
- Options after `?`, `&`-separated (or as keyword arguments): `train=FILE`, `test=FILE`,
  `val=FILE` (or `val=none`), `size=PX` (side images are decoded at, default 64),
  `class_names=FILE` (a wnid mapping such as ImageNet's LOC_synset_mapping.txt:
  `n01440764 tench, Tinca tinca` -> class name `tench`), `verify=full|header|none`.
  Relative FILE paths are resolved against ROOT first, then the working directory.
  Example: `imagenet-lt:/data/imagenet?train=my_train.txt&test=my_test.txt&size=256`.

Class names are the ImageNet synset ids (wnids: the folder above each file), or the names of the
`class_names` mapping. A label whose lines name two different folders, or a folder with two
labels, is an error (the list would be inconsistent).

Images stay on disk (`LazyImages`). Missing and unreadable files are skipped and listed in
`ImageSet.skipped` with the reason, like every reader here; `verify=full` (the default) decodes
each image once (JPEG draft mode, threads) so truncated files are caught before training.
Malformed lines (no label, a label that is not an integer, a path that leaves ROOT) are a
`ListFileError` naming the file and line.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath, PureWindowsPath
from urllib.parse import parse_qsl

import numpy as np
from PIL import Image, UnidentifiedImageError

from synaug.data.datasets import register_dataset
from synaug.data.imageset import DatasetSplits, ImageSet, LazyImages
from synaug.errors import DatasetError

log = logging.getLogger(__name__)


class ListFileError(DatasetError):
    """A list file is malformed: a line without a label, a non-integer label, a path outside ROOT,
    or labels that disagree with the folders they name."""


# (train, val, test) file names as the field distributes them
PRESETS = {
    "imagenet100-lt": ("imageNet_100_LT_train.txt", "ImageNet_100_val.txt", "ImageNet_100_test.txt"),
    "imagenet-lt": ("ImageNet_LT_train.txt", "ImageNet_LT_val.txt", "ImageNet_LT_test.txt"),
}
SEARCH_DIRS = {
    "imagenet100-lt": ("", "split/imagenet-100", "splits/imagenet100"),
    "imagenet-lt": ("", "split/ImageNet_LT", "data/ImageNet_LT"),
}
OPTIONS = ("train", "val", "test", "size", "class_names", "verify")
VERIFY_MODES = ("full", "header", "none")


# ----------------------------------------------------------------------------- parsing
def split_spec(path: str) -> tuple[str, dict]:
    """'ROOT?train=a.txt&size=224' -> ('ROOT', {'train': 'a.txt', 'size': '224'})."""
    root, sep, query = path.partition("?")
    options = {}
    if sep:
        for key, value in parse_qsl(query, keep_blank_values=True, strict_parsing=False):
            if key not in OPTIONS:
                raise ListFileError(f"unknown list-file option {key!r} in {path!r}; known: {', '.join(OPTIONS)}")
            if key in options:
                raise ListFileError(f"option {key!r} given twice in {path!r}")
            options[key] = value
        if not options and query.strip():
            raise ListFileError(f"cannot parse options {query!r} in {path!r}; use ?train=FILE&test=FILE")
    return root, options


def _inside_root(rel: str, where: str) -> PurePosixPath:
    """The relative path of a list line, refusing absolute paths and '..' (they would leave ROOT)."""
    posix = PurePosixPath(rel.replace("\\", "/"))
    if posix.is_absolute() or PureWindowsPath(rel).drive or PureWindowsPath(rel).is_absolute():
        raise ListFileError(f"{where}: path {rel!r} is absolute; list files hold paths relative to the ImageNet root")
    if ".." in posix.parts:
        raise ListFileError(f"{where}: path {rel!r} leaves the ImageNet root ('..')")
    return posix


def read_list(list_file: Path) -> list[tuple[PurePosixPath, int, int]]:
    """[(relative path, label, line number)] of a `path label` list; blank and '#' lines ignored."""
    try:
        text = list_file.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ListFileError(f"cannot read list file {list_file}: {exc}") from exc
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{list_file}:{number}"
        parts = line.rsplit(maxsplit=1)
        if len(parts) < 2:
            raise ListFileError(f"{where}: line {line[:80]!r} has no label (expected 'relative/path label')")
        rel, label = parts
        try:
            value = int(label)
        except ValueError:
            raise ListFileError(f"{where}: label {label!r} is not an integer "
                                f"(expected 'relative/path label')") from None
        if value < 0:
            raise ListFileError(f"{where}: label {value} is negative")
        entries.append((_inside_root(rel, where), value, number))
    if not entries:
        raise ListFileError(f"list file {list_file} has no 'path label' lines")
    return entries


def read_class_names(mapping_file: Path) -> dict[str, str]:
    """wnid -> readable name from `wnid name[, synonyms]` lines (ImageNet's LOC_synset_mapping.txt)
    or `wnid<TAB>name` lines (words.txt); the first synonym is kept."""
    try:
        lines = mapping_file.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ListFileError(f"cannot read class-name mapping {mapping_file}: {exc}") from exc
    names = {}
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.strip().split(maxsplit=1)
        if len(parts) < 2:
            raise ListFileError(f"{mapping_file}:{number}: expected 'wnid name', got {line[:80]!r}")
        names[parts[0]] = parts[1].split(",")[0].strip()
    return names


# ----------------------------------------------------------------------------- files
def _resolve(root: Path, name: str) -> Path:
    p = Path(name).expanduser()
    if p.is_absolute():
        return p
    return root / p if (root / p).is_file() or not p.is_file() else p


def _find_preset(root: Path, presets) -> tuple[str, tuple[Path, Path | None, Path | None]] | None:
    found = []
    for preset in presets:
        for sub in SEARCH_DIRS[preset]:
            folder = root / sub
            train, val, test = (folder / f for f in PRESETS[preset])
            if train.is_file():
                found.append((preset, (train, val if val.is_file() else None, test if test.is_file() else None)))
                break
    if len(found) > 1:
        raise ListFileError(f"{root} holds list files of both {found[0][0]} ({found[0][1][0].name}) and "
                            f"{found[1][0]} ({found[1][1][0].name}); choose with ?train=FILE&test=FILE")
    return found[0] if found else None


def _check(path: Path, verify: str, size: int) -> str | None:
    """None if the image can be used, else the reason it is skipped."""
    if not path.is_file():
        return "missing file"
    if verify == "none":
        return None
    try:
        with Image.open(path) as img:
            if verify == "full":
                img.draft("RGB", (size, size))  # JPEG: decode at a reduced scale, still every byte
                img.load()
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
        return f"unreadable image: {exc.__class__.__name__}: {exc}"
    return None


def _check_all(paths: list[Path], verify: str, size: int) -> list[str | None]:
    if verify == "none" or len(paths) < 64:
        return [_check(p, verify, size) for p in paths]
    workers = min(8, os.cpu_count() or 1)  # PIL releases the GIL while decoding
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda p: _check(p, verify, size), paths, chunksize=64))


# ----------------------------------------------------------------------------- reader
def read_listfiles(root, train, test, val=None, size: int = 64, class_names=None,
                   verify: str = "full", name: str = "imagenet-lt") -> DatasetSplits:
    """Read train / (val) / test list files over `root`; see the module docstring."""
    root = Path(root)
    size = _check_options(root, size, verify)
    files = {"train": Path(train), "val": Path(val) if val else None, "test": Path(test)}
    for split, f in files.items():
        if f is not None and not f.is_file():
            raise DatasetError(f"{split} list file {f} not found")
    lists = {split: read_list(f) for split, f in files.items() if f is not None}
    wnids = _wnids(lists, files)
    names = _class_names(wnids, class_names)
    sets = {split: _read_split(root, entries, files[split], split, names, size, verify, name)
            for split, entries in lists.items()}
    empty = [names[c] for c, n in enumerate(sets["train"].class_counts()) if n == 0]
    if empty:
        log.warning("%s: %d class(es) have no training image: %s", name, len(empty), empty[:10])
    info = dict(dataset=name, source=str(root), size=size, verify=verify, num_classes=len(wnids),
                lists={k: str(v) for k, v in files.items() if v is not None},
                skipped={k: len(v.skipped) for k, v in sets.items()}, wnids=wnids)
    return DatasetSplits(train=sets["train"], test=sets["test"], val=sets.get("val"), info=info)


def _check_options(root: Path, size, verify: str) -> int:
    """The root must be a folder, `verify` a known mode; returns `size` as a positive int."""
    if not root.is_dir():
        raise DatasetError(f"ImageNet root {root} is not a directory")
    if verify not in VERIFY_MODES:
        raise ListFileError(f"verify must be one of {', '.join(VERIFY_MODES)}, not {verify!r}")
    try:
        size = int(size)
    except (TypeError, ValueError):
        raise ListFileError(f"size must be an integer number of pixels, not {size!r}") from None
    if size < 1:
        raise ListFileError(f"size must be positive, got {size}")
    return size


def _wnids(lists: dict, files: dict) -> list[str]:
    """The folder (wnid) of every label 0..K-1: one wnid per label and one label per wnid, over every
    list; a label only ever seen at the root is named by its number."""
    wnid_of: dict[int, tuple[str, str]] = {}
    label_of: dict[str, tuple[int, str]] = {}
    for split, entries in lists.items():
        for rel, label, number in entries:
            wnid = rel.parent.name
            if not wnid:
                continue  # a file at the root: no folder names its class
            where = f"{files[split]}:{number}"
            if label in wnid_of and wnid_of[label][0] != wnid:
                raise ListFileError(f"{where}: label {label} is folder {wnid}, but {wnid_of[label][1]} gives it "
                                    f"folder {wnid_of[label][0]}")
            if wnid in label_of and label_of[wnid][0] != label:
                raise ListFileError(f"{where}: folder {wnid} has label {label}, but {label_of[wnid][1]} gives it "
                                    f"label {label_of[wnid][0]}")
            wnid_of.setdefault(label, (wnid, where))
            label_of.setdefault(wnid, (label, where))
    seen = {label for entries in lists.values() for _, label, _ in entries}
    num_classes = max(seen) + 1
    unused = [c for c in range(num_classes) if c not in seen]
    if unused:
        raise ListFileError(f"labels must be 0..{num_classes - 1}; no line has label(s) {unused[:10]}")
    return [wnid_of[c][0] if c in wnid_of else str(c) for c in range(num_classes)]


def _class_names(wnids: list[str], class_names) -> list[str]:
    """The wnids, or their names from a class-name mapping file (shared names kept apart)."""
    if not class_names:
        return list(wnids)
    mapping = read_class_names(Path(class_names))
    missing = [w for w in wnids if w not in mapping]
    if missing:
        raise ListFileError(f"class-name mapping {class_names} lacks {len(missing)} wnid(s), e.g. {missing[:5]}")
    names = [mapping[w] for w in wnids]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:  # two synsets can share a first synonym ('crane'): keep them apart
        names = [f"{n} ({w})" if n in dup else n for n, w in zip(names, wnids)]
    return names


def _read_split(root: Path, entries, list_file: Path, split: str, names: list[str], size: int, verify: str,
                name: str) -> ImageSet:
    """One split's images (checked as `verify` says; unreadable ones skipped and logged)."""
    paths = [root / rel for rel, _, _ in entries]
    reasons = _check_all(paths, verify, size)
    keep = [i for i, r in enumerate(reasons) if r is None]
    skipped = [(str(paths[i]), r) for i, r in enumerate(reasons) if r is not None]
    if skipped:
        log.warning("%s %s: skipped %d of %d image(s); first: %s (%s)", name, split, len(skipped),
                    len(paths), *skipped[0])
    if not keep:
        raise DatasetError(f"{list_file}: none of its {len(paths)} images can be read under {root} "
                           f"(first: {skipped[0][0]}: {skipped[0][1]})")
    ds = ImageSet(LazyImages([paths[i] for i in keep], (size, size), 3),
                  np.array([entries[i][1] for i in keep], dtype=np.int64), names, name=name)
    ds.skipped = skipped
    return ds


def _load(preset_names, name: str, path: str, options: dict) -> DatasetSplits:
    if not path:
        raise DatasetError(f"{name} needs the ImageNet root: {name}:ROOT (holding train/, val/ and the list files)")
    root_text, query = split_spec(path)
    both = sorted(set(query) & {k for k, v in options.items() if v is not None})
    if both:
        raise ListFileError(f"option(s) {both} given both in the dataset spec and as arguments")
    opts = {**{k: v for k, v in options.items() if v is not None}, **query}
    root = Path(root_text).expanduser()
    if not root.is_dir():
        raise DatasetError(f"ImageNet root {root} is not a directory")
    files = {k: opts.pop(k, None) for k in ("train", "val", "test")}
    if files["train"] is None or files["test"] is None:
        found = _find_preset(root, preset_names)
        if found is None:
            wanted = " or ".join(PRESETS[p][0] for p in preset_names)
            raise DatasetError(f"no list files under {root}: expected {wanted} (in ROOT or "
                               f"{', '.join(s for p in preset_names for s in SEARCH_DIRS[p] if s)}), "
                               f"or name them: {name}:ROOT?train=FILE&test=FILE")
        preset, (train, val, test) = found
        if files["train"] is None:
            files["train"] = train
            if files["val"] is None:
                files["val"] = val
        if files["test"] is None:
            if test is None:
                raise DatasetError(f"{train} found but no {PRESETS[preset][2]} beside it; name it with ?test=FILE")
            files["test"] = test
    if isinstance(files["val"], str) and files["val"].lower() in ("", "none"):
        files["val"] = None
    resolved = {k: (_resolve(root, str(v)) if v is not None else None) for k, v in files.items()}
    if opts.get("class_names"):
        opts["class_names"] = _resolve(root, str(opts["class_names"]))
    return read_listfiles(root, resolved["train"], resolved["test"], val=resolved["val"], name=name, **opts)


@register_dataset("imagenet-lt")
def imagenet_lt(path: str = "", train=None, val=None, test=None,
                size=None, class_names=None, verify=None) -> DatasetSplits:
    """Any `path label` list files over an ImageNet root (ImageNet-LT, ImageNet100-LT, your own)."""
    return _load(("imagenet100-lt", "imagenet-lt"), "imagenet-lt", path,
                 dict(train=train, val=val, test=test, size=size, class_names=class_names, verify=verify))


@register_dataset("imagenet100-lt")
def imagenet100_lt(path: str = "", train=None, val=None, test=None,
                   size=None, class_names=None, verify=None) -> DatasetSplits:
    """ImageNet100-LT as SDCLR distributes it (imageNet_100_LT_train.txt, ImageNet_100_{val,test}.txt)."""
    return _load(("imagenet100-lt",), "imagenet100-lt", path,
                 dict(train=train, val=val, test=test, size=size, class_names=class_names, verify=verify))
