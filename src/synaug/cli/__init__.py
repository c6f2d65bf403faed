"""`synaug` command line: a thin layer over the Python API (`synaug.api`). `parsers` and
`tool_parsers` define the flags, `commands` calls the API and prints; this module runs a command and
turns a user's mistake into `error: ...` and exit status 2 (a traceback means a bug)."""

from __future__ import annotations

import argparse
import errno
import logging
import os
import sys

from synaug.errors import SynaugError
from synaug.runtime import environment
from synaug.version import __version__


def build_parser() -> argparse.ArgumentParser:
    from synaug.cli import parsers as P, tool_parsers as T
    parser = argparse.ArgumentParser(prog="synaug", description=(
        "Fix imbalanced image datasets with synthetic data (SYNAuG): plan, generate, train, evaluate."))
    parser.add_argument("--version", action="version", version=f"synaug {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (P.plan_parser, P.generate_parser, P.cache_parser, P.train_parser, P.evaluate_parser, T.export_parser,
                P.run_parser, P.demo_parser, P.experiment_parser, T.audit_parser, T.filter_parser, T.fit_lora_parser,
                T.fit_generator_parser, T.runs_parser):
        add(sub)
    return parser


# what to do after Ctrl-C: a run folder refuses a plain re-run (it is not empty), an audit starts afresh
INTERRUPT_HINTS = {"train": "run the same command with --resume to continue from its last checkpoint",
                   "audit": "remove the --out folder and run the same command again (an audit starts afresh)"}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if not str(a).startswith("-")), "")
    try:
        return run_command(argv)
    except KeyboardInterrupt:  # also while the parsers import torch, before any command ran
        print(f"interrupted: {INTERRUPT_HINTS.get(command, 're-run the same command to resume')}", file=sys.stderr)
        return 130


def run_suggest(words: str) -> int:
    from synaug.cli.commands import cmd_suggest
    return cmd_suggest(words)


def run_args(args) -> int:
    from synaug.cli.commands import check_renamed
    check_renamed(args)
    environment()  # the SYNAUG_* variables, checked when a command starts rather than when first used
    return args.func(args)


def suggest_only(argv: list[str]) -> str | None:
    """WORDS of a bare `synaug plan --suggest WORDS`: answered before the parser is built, since the
    parser's choices import torch and every backend (seconds) and a suggestion needs none of them."""
    if len(argv) == 3 and argv[:2] == ["plan", "--suggest"]:
        return argv[2]
    if len(argv) == 2 and argv[0] == "plan" and argv[1].startswith("--suggest="):
        return argv[1].partition("=")[2]
    return None


def run_command(argv) -> int:
    words = suggest_only(argv)
    if words is None:
        args = build_parser().parse_args(argv)
        logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                            format="%(levelname)s %(name)s: %(message)s")
    try:
        return run_suggest(words) if words is not None else run_args(args)
    except SynaugError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into a reader that stopped early (e.g. `| head`): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        if exc.filename is None and exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES):
            raise  # not about a user's file, folder or disk: a bug, keep the traceback
        # a read-only or full disk, a missing folder, a file where a folder is needed
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
