"""What every command shares: running a body with clean errors, common flags."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable, Iterable, Sequence

from timbre.errors import TimbreError

# TensorFlow's C++ start-up chatter (oneDNN, CUDA probing) is noise to a user of the commands.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def fail(message: object) -> int:
    """Print ``error: <message>`` to stderr and return exit status 1."""
    print(f"error: {message}", file=sys.stderr)
    return 1


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"warning: {message}", file=sys.stderr)


def run(
    parser: argparse.ArgumentParser,
    body: Callable[[argparse.Namespace], int | None],
    argv: Sequence[str] | None,
) -> int:
    """Parse ``argv`` and call ``body(args)``; return the exit status.

    A ``TimbreError`` becomes ``error: ...`` and status 1. Warnings are shown as one
    ``warning: ...`` line each.
    """
    args = parser.parse_args(argv)
    previous = warnings.showwarning
    warnings.showwarning = _show_warning
    try:
        status = body(args)
    except TimbreError as e:
        return fail(e)
    except KeyboardInterrupt:
        return fail("interrupted; finished files are kept and a rerun resumes")
    finally:
        warnings.showwarning = previous
    return 0 if status is None else int(status)


def report_failures(reasons: Iterable[str]) -> int:
    """Print ``failed: <reason>`` per failure to stderr; return the exit status.

    The status is 1 if any failed, else 0.
    """
    reasons = list(reasons)
    for reason in reasons:
        print(f"failed: {reason}", file=sys.stderr)
    return 1 if reasons else 0


def positive_int(text: str) -> int:
    """argparse type: an integer > 0."""
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} is not a positive integer")
    return value


def add_jobs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--jobs",
        type=positive_int,
        default=os.cpu_count() or 1,
        help="worker processes (default: all cores, %(default)s here)",
    )


def add_seed(parser: argparse.ArgumentParser, default: int = 0) -> None:
    parser.add_argument(
        "--seed", type=int, default=default, help="random seed (default: %(default)s)"
    )


def parse_instruments(text: str) -> list[str]:
    """argparse type: comma-separated instrument names."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected comma-separated instrument names")
    return names
