"""Process pools of the data stages (synthesis, features): one rule for the worker count and start.

No TensorFlow here; the rule only looks at whether the calling process has loaded it.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import sys

from timbre.errors import ConfigError


def check_jobs(jobs: object) -> int:
    """Return ``jobs`` if it is a positive integer worker count.

    Raises:
        ConfigError: anything else (booleans included).
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs <= 0:
        raise ConfigError(f"jobs={jobs!r} must be a positive integer")
    return jobs


def forks() -> bool:
    """True when workers will be forked from this process (see :func:`pool_context`)."""
    return "fork" in multiprocessing.get_all_start_methods() and "tensorflow" not in sys.modules


def pool_context() -> multiprocessing.context.BaseContext:
    """``fork`` (workers start at once and share what this process loaded) unless TensorFlow is
    loaded here: its threads do not survive a fork, so then ``forkserver`` (or ``spawn``)."""
    if forks():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context(
        "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    )
