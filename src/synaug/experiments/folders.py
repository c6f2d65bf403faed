"""Where a command's shared work goes when the user names no folder: generated images shared between
experiments (`shared_dir`) and the run store (`store_dir`). With an output folder the user named,
both stay inside it, so nothing is written outside a folder the user gave."""

from __future__ import annotations

from pathlib import Path

DEFAULT_ROOT = Path("runs/experiments")
DEFAULT_STORE = Path("runs/store")


def in_default_root(out: Path) -> bool:
    """Whether `out` is a folder of the default experiments root (runs/experiments/NAME)."""
    return Path(out).resolve().parent == DEFAULT_ROOT.resolve()


def in_default_runs(out: Path) -> bool:
    """Whether `out` is one of synaug's default output folders under ./runs (an experiment's, a demo's)."""
    runs = DEFAULT_STORE.parent.resolve()
    return Path(out).resolve().parent in (runs, DEFAULT_ROOT.resolve())


def shared_dir(out: Path, shared: Path | None = None) -> Path:
    """Generated images shared between experiments: `shared` when given; runs/experiments/shared for
    the default runs/experiments/NAME; else OUT/shared, so that nothing is written outside a folder
    the user named."""
    if shared:
        return Path(shared)
    return DEFAULT_ROOT.resolve() / "shared" if in_default_root(out) else Path(out).resolve() / "shared"


def store_dir(out: Path, store: Path | None = None) -> Path:
    """The run store: `store` when given; runs/store for synaug's default folders (every default
    experiment and demo meets there); else OUT/store, inside the folder the user named."""
    if store:
        return Path(store)
    return DEFAULT_STORE.resolve() if in_default_runs(out) else Path(out).resolve() / "store"
