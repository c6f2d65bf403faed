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


def main(argv=None) -> int:
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    # the agent logs each failure at ERROR level before raising; the summary below says it once
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
    try:
        run(parse_args(argv))
    except ChildFailedError as exc:
        _, first = exc.get_first_failure()
        for rank, failure in sorted(exc.failures.items()):
            how = f"was stopped by signal {-failure.exitcode}" if failure.exitcode < 0 else \
                f"exited with status {failure.exitcode}"
            print(f"synaug.launch: rank {rank} (local rank {failure.local_rank}) {how}", file=sys.stderr)
        print(f"error: {exc.name} failed on {len(exc.failures)} process(es); its message is above", file=sys.stderr)
        return first.exitcode if first.exitcode > 0 else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
