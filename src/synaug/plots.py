"""matplotlib for reports: the headless backend, and figures as inline PNG data URIs."""

from __future__ import annotations

import base64
import io
from pathlib import Path

from synaug.fileio import atomic_write_bytes


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed), imported when a report is drawn."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def png_bytes(fig) -> bytes:
    """The figure as PNG bytes (the figure is closed)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    pyplot().close(fig)
    return buf.getvalue()


def png_uri(fig) -> str:
    """The figure as a `data:image/png;base64,...` URI (the figure is closed)."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(fig)).decode()


def save_png(fig, path: Path) -> Path:
    """The figure written to `path` atomically (never half a PNG); the figure is closed."""
    atomic_write_bytes(Path(path), png_bytes(fig))
    return Path(path)
