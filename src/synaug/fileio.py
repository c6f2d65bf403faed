"""Writing files so that a crash never leaves half of one: write a temporary sibling, then rename."""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_open(path: Path, mode: str = "w", tmp_name: str | None = None, **open_options):
    """`open` for writing whose file appears at `path` only once the block has finished without error;
    `tmp_name` names the temporary sibling (default PATH.tmp), removed when the block fails (a full
    disk, an interrupt): no half file is left behind."""
    path = Path(path)
    tmp = path.with_name(tmp_name or path.name + ".tmp")
    try:
        with open(tmp, mode, **open_options) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_open(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def write_json(path: Path, obj, **dumps_options) -> None:
    atomic_write_text(path, json.dumps(obj, **{"indent": 2, **dumps_options}) + "\n")
