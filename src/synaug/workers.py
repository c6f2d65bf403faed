"""Worker processes that die with the process that started them: a SIGKILLed command (generation
or decoding the image cache) must not leave its pool running forever."""

from __future__ import annotations

import os


def die_with_parent(parent: int | None) -> None:
    """A worker must not outlive the process that started it (SIGKILL gives the parent no chance to
    clean up): on Linux the kernel sends SIGTERM when the parent dies (prctl PR_SET_PDEATHSIG);
    elsewhere a daemon thread polls the parent's pid."""
    import signal
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
