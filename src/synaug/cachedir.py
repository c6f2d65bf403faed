"""The cache folder every command shares (decoded images, the emoji index): no torch, so a command
that only needs the folder (`plan --suggest`) starts fast."""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    """Where decoded caches live unless a command is told otherwise: $SYNAUG_CACHE_DIR, else
    $XDG_CACHE_HOME/synaug, else ~/.cache/synaug (one place, like the Hugging Face and torch hub
    caches, so `synaug cache`, `train`, `run` and `experiment` all find what another decoded)."""
    if os.environ.get("SYNAUG_CACHE_DIR"):
        return Path(os.environ["SYNAUG_CACHE_DIR"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "synaug"
