"""Process pools of the data stages (synthesis, features): the worker count, the start method
and the one runner (:func:`run_jobs`) that hands out their pieces under a progress bar.

No TensorFlow here; the start rule only looks at whether the calling process has loaded it.
"""

from __future__ import annotations

import concurrent.futures
import concurrent.futures.process
import multiprocessing
import multiprocessing.context
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from timbre.errors import ConfigError

T = TypeVar("T")
R = TypeVar("R")


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


def run_jobs(
    work: Callable[[T], R],
    tasks: Sequence[T],
    *,
    jobs: int,
    desc: str,
    progress: bool,
    broken: Callable[[int, BaseException], Exception],
    ordered: bool = False,
    initializer: Callable[..., None] | None = None,
    initargs: tuple = (),
    before_fork: Callable[[], None] | None = None,
) -> Iterator[R]:
    """Yield ``work(task)`` for every task, in a process pool when ``jobs > 1``, under a bar.

    With one job or one task, the work runs in this process (``initializer`` too). Pool workers
    ignore Ctrl-C: it is the parent's to handle, and a worker hit by it too would leave the pool
    broken and its queue still draining. Close the generator as soon as the caller stops
    (``contextlib.closing``): the pool then cancels the tasks not yet started and waits for the
    running ones.

    Args:
        work: a module-level function (pool workers find it by name).
        tasks: its arguments, one per call.
        jobs: worker processes (a positive integer, :func:`check_jobs`).
        desc: the progress bar's label; its unit is ``piece``.
        progress: show the progress bar.
        broken: makes the error raised when a worker dies, from how many results were
            yielded and the pool's ``BrokenProcessPool``.
        ordered: yield in the order of ``tasks`` (else in completion order).
        initializer: run once per worker (and once here when nothing is pooled), with
            ``initargs``.
        before_fork: run here just before the pool starts, when workers will be forked
            (:func:`forks`): what it loads, they inherit.

    Yields:
        The results of ``work``.

    Raises:
        Exception: ``broken(...)``'s error when a worker process dies.
    """
    from tqdm.auto import tqdm

    bar = tqdm(total=len(tasks), desc=desc, unit="piece", disable=not progress)
    try:
        if jobs <= 1 or len(tasks) <= 1:
            if initializer is not None:
                initializer(*initargs)
            for task in tasks:
                yield work(task)
                bar.update()
            return
        yield from _pooled(
            work, tasks, jobs, bar, broken, ordered, initializer, initargs, before_fork
        )
    finally:
        bar.close()


def _pooled(work, tasks, jobs, bar, broken, ordered, initializer, initargs, before_fork):
    """:func:`run_jobs` in a pool of ``min(jobs, len(tasks))`` workers."""
    if before_fork is not None and forks():
        before_fork()
    pool = concurrent.futures.ProcessPoolExecutor(
        min(jobs, len(tasks)),
        mp_context=pool_context(),
        initializer=_start_worker,
        initargs=(initializer, initargs),
    )
    done = 0
    try:
        futures = [pool.submit(work, task) for task in tasks]
        for future in futures if ordered else concurrent.futures.as_completed(futures):
            result = future.result()
            done += 1
            yield result
            bar.update()
    except concurrent.futures.process.BrokenProcessPool as e:
        raise broken(done, e) from e
    finally:  # stopped early (Ctrl-C, an error): the tasks not started are dropped
        pool.shutdown(wait=True, cancel_futures=True)


def _start_worker(initializer: Callable[..., None] | None, initargs: tuple) -> None:
    """A pool worker's start: Ctrl-C ignored (the parent handles it), then ``initializer``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if initializer is not None:
        initializer(*initargs)
