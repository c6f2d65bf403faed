"""Worker processes that die with the process that started them: a SIGKILLed command (generation
or decoding the image cache, from `synaug generate`, `cache`, `train`, `run`...) must not leave its
pool running forever. Every process pool synaug starts is `process_pool`'s.

Ctrl-C is the parent's to handle: a terminal sends SIGINT to every process of the group, and a worker
waiting on its queue would print a KeyboardInterrupt traceback, so workers ignore it; the parent's
KeyboardInterrupt leaves the pool's `with` block, which cancels the work not started and waits for
the chunks running (the command then exits 130 with one line)."""

from __future__ import annotations

import os
import signal
from concurrent.futures import ProcessPoolExecutor
from typing import Callable


def process_pool(workers: int, initializer: Callable | None = None, initargs: tuple = ()) -> ProcessPoolExecutor:
    """A ProcessPoolExecutor whose workers die with this process (`die_with_parent`), then run
    `initializer(*initargs)` (a module-level function, so that it pickles)."""
    import multiprocessing
    # a forked worker's parent is this process; under spawn / forkserver it is a helper: watch that one
    parent = os.getpid() if multiprocessing.get_start_method() == "fork" else None
    return _Pool(workers, initializer=start_worker, initargs=(parent, initializer, initargs))


class _Pool(ProcessPoolExecutor):
    def __exit__(self, exc_type, exc_val, exc_tb):
        # on an error or Ctrl-C, work not yet started is cancelled (the default would run all of it first)
        self.shutdown(wait=True, cancel_futures=exc_type is not None)
        return False


def start_worker(parent: int | None, initializer: Callable | None, initargs: tuple) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's (module docstring)
    die_with_parent(parent)
    if initializer is not None:
        initializer(*initargs)


def die_with_parent(parent: int | None) -> None:
    """A worker must not outlive the process that started it (SIGKILL gives the parent no chance to
    clean up): on Linux the kernel sends SIGTERM when the parent dies (prctl PR_SET_PDEATHSIG);
    elsewhere a daemon thread polls the parent's pid."""
    import sys
    import threading
    import time
    if sys.platform.startswith("linux"):
        import ctypes
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            PR_SET_PDEATHSIG = 1
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        except (OSError, AttributeError):  # no prctl: the polling thread below still works
            pass
    watched = os.getppid() if parent is None else parent  # None: started by a fork server, watch it
    if os.getppid() != watched:
        os._exit(1)  # the parent died before the line above took effect

    def watch():
        while True:
            time.sleep(1.0)
            if os.getppid() != watched:
                os._exit(1)

    threading.Thread(target=watch, daemon=True).start()
