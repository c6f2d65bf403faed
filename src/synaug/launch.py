"""`python -m synaug.launch`: torchrun (same arguments) without torchrun's traceback.

When a process it started exits with a non-zero status, torchrun (`torch.distributed.run.main`)
raises `ChildFailedError` out of its own `main`, so Python prints torchrun's traceback and a failure
table after the `error: ...` line every synaug process printed; torchrun then exits 1, whatever the
processes' status was. No exit of the processes avoids it: any non-zero status is a failure to the
elastic agent, and 0 would report success. So this launcher runs torchrun's own `run` and turns that
exception into one line per failed process and the first failure's exit status (2 for a user's
mistake, as `synaug` alone):

    python -m synaug.launch --nproc_per_node 4 -m synaug.cli train --dataset ... --out runs/r
"""

from __future__ import annotations

import logging
import sys


INTERRUPTED = ("interrupted: the processes were stopped; to continue a `synaug train`, run the same command with "
               "--resume")


def main(argv=None) -> int:
    try:
        return launch(argv)
    except KeyboardInterrupt:  # Ctrl-C while torch loads, before torchrun took over the signal
        print(INTERRUPTED, file=sys.stderr)
        return 130


def launch(argv=None) -> int:
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    # the agent logs each failure at ERROR level before raising; the summary below says it once
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
    try:
        run(parse_args(argv))
    except ChildFailedError as exc:
        for rank, failure in sorted(exc.failures.items()):
            how = f"was stopped by signal {-failure.exitcode}" if failure.exitcode < 0 else \
                f"exited with status {failure.exitcode}"
            print(f"synaug.launch: rank {rank} (local rank {failure.local_rank}) {how}", file=sys.stderr)
        print(f"error: {exc.name} failed on {len(exc.failures)} process(es); its message is above", file=sys.stderr)
        # the status a process chose (2: a user's mistake), not the signal the agent then stopped the others with
        chosen = sorted(f.exitcode for f in exc.failures.values() if f.exitcode > 0)
        return chosen[0] if chosen else 1
    except SignalException:  # Ctrl-C (SIGINT) or SIGTERM: torchrun stopped the processes
        print(INTERRUPTED, file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
