"""Progress for long work (training steps, generated images), wherever the output goes.

On a terminal: a tqdm bar. Elsewhere (a log file, a pipe, a batch job): one plain line now and then,
`desc: step 120/600 (20%)  loss 0.532  2310 img/s  ETA 0:00:41`, so a run never looks hung.
The first update, every `SYNAUG_PROGRESS_SECONDS` seconds (default 10) and the last one print a line.
"""

from __future__ import annotations

import sys
import time
from typing import Iterable

from tqdm.auto import tqdm

from synaug.runtime import progress_seconds


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class Progress:
    """A tqdm-like progress reporter: iterate over it (or call `update`), `set_postfix`, `close`.

    `images_per_unit` turns units into images for the rate (a training step is a batch of images).
    """

    def __init__(self, iterable: Iterable | None = None, *, total: int | None = None, desc: str = "",
                 unit: str = "it", initial: int = 0, enabled: bool = True, leave: bool = True,
                 images_per_unit: int = 1, file=None, every: float | None = None, rate: bool = True):
        self.iterable = iterable
        self.total = total if total is not None else (len(iterable) + initial if hasattr(iterable, "__len__") else None)
        self.desc, self.unit, self.images_per_unit, self.rate = desc, unit, images_per_unit, rate
        self.n = self.start_n = initial
        self.file = file if file is not None else sys.stderr
        self.every = progress_seconds() if every is None else every
        self.postfix: dict = {}
        self.mode = "off" if not enabled else ("bar" if _isatty(self.file) else "lines")
        self._bar = None
        if self.mode == "bar":
            self._bar = tqdm(iterable, total=self.total, desc=desc, unit=unit, initial=initial, leave=leave,
                             file=self.file)
        self._t0 = self._last = time.monotonic()
        self._printed_at = None

    def __iter__(self):
        if self._bar is not None:
            yield from self._bar
            return
        for x in self.iterable:
            yield x
            self.update(1)

    def update(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(n)
            return
        self.n += n
        if self.mode != "lines":
            return
        now = time.monotonic()
        first = self._printed_at is None
        last = self.total is not None and self.n >= self.total
        if first or last or now - self._last >= self.every:
            self._last = now
            self._printed_at = self.n
            self.file.write(self.line(now) + "\n")
            self.file.flush()

    def set_postfix(self, refresh: bool = True, **values) -> None:
        self.postfix = values
        if self._bar is not None:
            self._bar.set_postfix(refresh=refresh, **values)

    def line(self, now: float | None = None) -> str:
        elapsed = max((now or time.monotonic()) - self._t0, 1e-9)
        done = self.n - self.start_n
        parts = [f"{self.desc}: {self.unit} {self.n}" + (f"/{self.total} ({100 * self.n / self.total:.0f}%)"
                                                         if self.total else "")]
        parts += [f"{k} {v}" for k, v in self.postfix.items()]
        if done > 0:
            if self.rate:  # images per second (of a step, of drawing); not for units such as jobs
                parts.append(f"{done * self.images_per_unit / elapsed:.0f} img/s")
            if self.total:
                parts.append(f"ETA {_clock((self.total - self.n) * elapsed / done)}")
        return "  ".join(parts)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
