"""The boundary where user input becomes typed values: numeric options, strategies, text and YAML
files, training configs, output folders and plan file names. Every user mistake found here is a
`SynaugError` (the CLI prints `error: ...` and exits 2); past this boundary a traceback is a bug.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
from pathlib import Path, PurePosixPath
from typing import Iterable

from synaug.cells import cell_text
from synaug.constraints import MAX_SIDE, MAX_WORKERS  # noqa: F401 (older callers import the bounds from here)
from synaug.constraints import (FINITE, FRACTION, GUIDANCE, IMBALANCE, NONNEG, NONNEG_INT, POSITIVE, POSITIVE_INT,
                                PROBABILITY, SIDE, WORKERS, arg_type)
from synaug.errors import ConfigError, PlanError


# ----------------------------------------------------------------------------- argparse types
# Each is `synaug.constraints.arg_type` of the constraint its config field declares, so a flag and
# the same key in a YAML file refuse one value with one wording.
positive_int = arg_type(POSITIVE_INT)
nonneg_int = arg_type(NONNEG_INT)
positive_float = arg_type(POSITIVE)
finite_float = arg_type(FINITE)
nonneg_float = arg_type(NONNEG)
fraction_below_one = arg_type(FRACTION)    # a fraction of the steps, 0 <= value < 1
imbalance_factor = arg_type(IMBALANCE)     # IF = n_max / n_min, >= 1 (1 = balanced)
probability = arg_type(PROBABILITY)        # 0 < value <= 1
image_side = arg_type(SIDE)                # 1 to MAX_SIDE (a larger side exhausts memory before any message)
worker_count = arg_type(WORKERS)           # 1 to MAX_WORKERS processes
guidance_scale = arg_type(GUIDANCE)        # 0 to 50


def dataset_root(spec: str | None) -> Path | None:
    """The folder a dataset's files live in (csv:FILE: its folder), or None for an embedded dataset."""
    _, _, path = (spec or "").partition(":")
    if not path or not Path(path).expanduser().exists():
        return None
    path = Path(path).expanduser()
    return path.parent if path.is_file() else path


def check_outside_dataset(out, spec: str | None, option: str = "--out") -> None:
    """An output folder inside the dataset's folder is refused: what synaug writes there (a run, a
    generated set) would be read back as data, e.g. a new class folder of imagefolder:ROOT/train (a
    csv dataset reads only the rows it lists, so a folder beside its file is no part of it)."""
    root = None if (spec or "").startswith("csv:") else dataset_root(spec)
    if root is not None and out is not None and inside(Path(out), root):
        raise ConfigError(f"{option} {out} is inside the dataset's folder {root}: what is written there would be read "
                          "as part of the dataset (a class folder, images); choose a folder outside it")


def check_batches_split(batches: dict, world: int) -> None:
    """Each global batch ({option: images per step}) splits evenly over `world` processes (torchrun):
    refused when the command starts, not at the first step after the model is built."""
    for option, size in batches.items():
        if world > 1 and size % world:
            raise ConfigError(f"training option {option} {size} does not split evenly over {world} processes "
                              f"(torchrun); use a multiple of {world}, e.g. {max(world, size - size % world)}")


def words(text: str) -> str:
    """Words to look up (`plan --suggest`): some text, not blank."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"must be one or more words, got {text!r}")
    return text.strip()


# ----------------------------------------------------------------------------- YAML a user wrote
def user_yaml(text: str):
    """`yaml.safe_load`, stricter where safe_load is silently wrong for a user's file or flag: a key
    given twice (safe_load keeps the last) and a non-finite number (.inf, .nan: no synaug option takes
    one) are errors (a yaml.YAMLError naming the key or value and its line)."""
    import yaml
    return yaml.load(text, Loader=_strict_loader())


@functools.cache
def _strict_loader():
    import yaml

    class StrictLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base` may be overridden on purpose
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:  # an unhashable key: safe_load's own error follows
                    continue
                if duplicate:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r} (given twice; which one was meant?)", key_node.start_mark)
            return super().construct_mapping(node, deep)

        def construct_yaml_float(self, node):
            value = super().construct_yaml_float(node)
            if not math.isfinite(value):
                raise yaml.constructor.ConstructorError(
                    None, None, f"{node.value!r} is not a finite number (no synaug option takes one)", node.start_mark)
            return value

    StrictLoader.add_constructor("tag:yaml.org,2002:float", StrictLoader.construct_yaml_float)
    return StrictLoader


# ----------------------------------------------------------------------------- strategies
def parse_strategy(text: str):
    """A strategy name, or a JSON/YAML dict of final counts ('{"brick wall": 400}', '{"0": 400}',
    '{"3:1": 50}'); its cells stay as typed (`synaug.cells.cell_text`) until the data names them
    (`synaug.cells.CellSpace.key_of`)."""
    if not text.strip().startswith("{"):
        return text
    import yaml
    try:
        raw = user_yaml(text)
    except yaml.YAMLError as exc:
        raise PlanError(f"strategy {text!r} is not a valid JSON/YAML dict: {exc}") from exc
    if not isinstance(raw, dict) or not raw:
        raise PlanError(f"strategy {text!r}: expected a non-empty dict {{cell: final count}}")
    out = {}
    for key, value in raw.items():
        cell = cell_text(key if isinstance(key, (str, int)) and not isinstance(key, bool) else str(key))
        if cell in out:  # '0' and 0, or ' cat' and 'cat': one cell named twice
            raise PlanError(f"strategy {text!r}: cell {key!r} is given twice")
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise PlanError(f"strategy {text!r}: the final count of cell {key!r} must be an integer >= 0, "
                            f"got {value!r}")
        out[cell] = value
    return out


# ----------------------------------------------------------------------------- files
def read_text(path, what: str) -> str:
    """A user's text file as str (UTF-8, a BOM allowed), or a clear error."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} {path} not found" + (" (it is a folder)" if path.is_dir() else ""))
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what} {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from exc


def load_yaml(path, what: str) -> dict:
    """A YAML mapping from a user's file (empty file -> {}), or a clear error."""
    import yaml
    text = read_text(path, what)
    if "\x00" in text:
        raise ConfigError(f"{what} {path} is a binary file, not YAML")
    try:
        data = user_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} {path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {path} must be a YAML mapping (key: value), not a {type(data).__name__}")
    return data


def dataset_spec(spec: str | None) -> str | None:
    """A dataset spec in one canonical form: 'csv:data/' -> 'csv:/abs/data/metadata.csv', so the same
    dataset compares equal from any folder (run manifests record this form)."""
    if not spec:
        return spec
    name, _, path = spec.partition(":")
    if not path:
        return name
    p = Path(path).expanduser().resolve()
    if name == "csv" and p.is_dir():
        p = p / "metadata.csv"
    return f"{name}:{p}"


def check_out_dir(path, option: str = "--out") -> Path:
    """An output folder: may not exist yet, must not be a file."""
    path = Path(path)
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                raise ConfigError(f"{option} {path}: {p} is a file, not a folder")
            break
    return path


def check_out_file(path, option: str = "--out") -> Path:
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{option} {path} is a folder; name a file, e.g. {path / 'plan.csv'}")
    check_out_dir(path.parent, option)
    return path


def check_relative_name(name: str) -> str:
    """A file name from a plan: relative, inside its folder, not one of the folder's own files."""
    if not name or "\\" in name or "\x00" in name:
        raise PlanError(f"bad file_name {name!r}: empty, or with a backslash or NUL")
    p = PurePosixPath(name)
    if p.is_absolute() or name.startswith("~"):
        raise PlanError(f"bad file_name {name!r}: absolute paths are not allowed (names are relative to --out)")
    if any(part in ("..", ".", "") or part.startswith(".") for part in name.split("/")):
        raise PlanError(f"bad file_name {name!r}: '..', '.' and hidden components are not allowed")
    if name in ("metadata.csv",) or p.suffix.lower() != ".png":
        raise PlanError(f"bad file_name {name!r}: generated images are .png files (metadata.csv is reserved)")
    return name


def confined(root: Path, names: Iterable[str]) -> None:
    """Every root / name, symlinks followed, stays inside root. Names are relative without '..'
    (`check_relative_name`), so only a symlink can lead out: each folder is resolved once (a plan
    of 40,000 images has a few hundred), a file only where it is itself a symlink."""
    root = Path(root).resolve()
    folders: dict[str, Path] = {}

    def check(name: str, target: Path) -> None:
        if target != root and root not in target.parents:
            raise PlanError(f"file_name {name!r} leads outside the output folder {root} (via a symlink?)")

    for name in names:
        folder = name.rpartition("/")[0]
        if folder not in folders:
            folders[folder] = (root / folder).resolve()
            check(name, folders[folder])
        if (root / name).is_symlink():
            check(name, (root / name).resolve())


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file (resolved, hard links too)."""
    try:
        return Path(a).resolve() == Path(b).resolve() or (Path(a).exists() and Path(b).exists()
                                                          and Path(a).samefile(Path(b)))
    except OSError:
        return False


def check_plan_out(out: Path, data, inputs: tuple = ()) -> Path:
    """A plan file that overwrites no input (`check_not_input`: the dataset's own file or folder, and
    `inputs`, e.g. the modifier bank), and not a .json (the plan's settings are written beside it as
    PLAN.json)."""
    out = Path(out)
    if out.suffix.lower() == ".json":
        raise ConfigError(f"--out {out}: name the plan's CSV (e.g. plan.csv); its settings are written beside it "
                          "as plan.json")
    _, _, path = data.dataset.partition(":")
    dataset = []
    if path and Path(path).is_file():  # csv:FILE: the images it names live beside it
        dataset = [(Path(path), "the dataset's own file"), (Path(path).parent, "the dataset's folder")]
    elif path:
        dataset = [(Path(path) / "metadata.csv", "the dataset's own file"), (Path(path), "the dataset's folder")]
    check_not_input([out, out.with_suffix(".json")], dataset + [(Path(p), what) for p, what in inputs], "--out")
    return out


def check_not_input(written, inputs, option: str = "--out") -> None:
    """Refuse to write a file that is an input: the same file (resolved: symlinks, '..', hard links), or
    an existing file inside an input folder. `inputs` are (path, what it is) pairs."""
    for target in map(Path, written):
        for source, what in inputs:
            source = Path(source)
            hit = (same_file(target, source) if source.is_file() else
                   source.is_dir() and target.exists() and inside(target, source))
            if hit:
                shown = source if source.is_file() else target
                where = what if source.is_file() else f"a file inside {what} {source}"
                raise ConfigError(f"{option} would overwrite {shown}, {where}; choose another {option}")


def inside(path: Path, folder: Path) -> bool:
    """Whether `path` (resolved) is `folder` (resolved) or lies under it."""
    path, folder = Path(path).resolve(), Path(folder).resolve()
    return path == folder or folder in path.parents


RESULT_MARKERS = ("runs", "results.json", "synthetic")  # what run / demo / experiment write into their folder


def _json_record(path: Path) -> dict:
    """A JSON object file's content ({} when unreadable or not an object)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return record if isinstance(record, dict) else {}


def _written_by_synaug(entry: Path) -> bool:
    """Whether a marker entry of a results folder is synaug's own: runs/ holding run folders (job.json, or
    the versions.json, naming synaug, of a network an experiment trains outside the run store: fig3's
    feature network), synthetic/ holding generation folders (.synaug/), results.json holding a run's
    record; an empty folder (a run stopped before its first job) has nothing to lose."""
    if entry.is_symlink():
        return False
    if entry.name == "results.json":
        return "config" in _json_record(entry)
    if not entry.is_dir():
        return False
    if entry.name == "runs":
        return (not any(entry.iterdir()) or any(entry.glob("*/job.json")) or any(entry.glob("*/*/job.json"))
                or any("synaug" in _json_record(v) for v in entry.glob("*/*/versions.json")))
    return not any(entry.iterdir()) or any(entry.glob("*/.synaug")) or (entry / ".synaug").is_dir()


def check_results_folder(path, option: str = "--out") -> Path:
    """The folder of `run`, `demo` or `experiment`: new, empty, or one such a command wrote (its runs/,
    results.json or synthetic/ sets provably synaug's; a re-run reuses its finished runs). Any other
    folder, a user's runs/ or results.json among them, is refused: its config.yaml, results.json,
    results.txt or report.html would be overwritten."""
    path = check_out_dir(path, option)
    if not path.is_dir() or not any(path.iterdir()):
        return path
    markers = [path / m for m in RESULT_MARKERS if (path / m).exists() or (path / m).is_symlink()]
    if not markers:
        raise ConfigError(f"{option} {path} is not empty and holds no synaug results (runs/, results.json, "
                          "synthetic/); give a new or empty folder (config.yaml, results.json and report.html are "
                          "written there)")
    foreign = [m.name for m in markers if not _written_by_synaug(m)]
    if foreign:
        raise ConfigError(f"{option} {path} holds {', '.join(foreign)} that synaug did not write (no run's job.json, "
                          "generation record or results record in it); give a new or empty folder (config.yaml, "
                          "results.json and report.html are written there)")
    return path


def check_new_folder(path, option: str = "--out") -> Path:
    """An output folder that must be new or empty (nothing in it is ever overwritten)."""
    path = check_out_dir(path, option)
    if path.is_dir() and any(path.iterdir()):
        raise ConfigError(f"{option} {path} is not empty; give a new or empty folder (nothing in it is overwritten)")
    return path
