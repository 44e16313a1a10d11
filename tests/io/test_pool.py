import concurrent.futures.process
import multiprocessing
import os
import signal
import sys
import time

import pytest

from timbre.errors import ConfigError, DatasetError
from timbre.io import pool


@pytest.mark.parametrize("jobs", [0, -1, 1.5, True, "2"])
def test_check_jobs_refuses(jobs):
    with pytest.raises(ConfigError, match="must be a positive integer"):
        pool.check_jobs(jobs)


def test_check_jobs_accepts():
    assert pool.check_jobs(3) == 3


def test_no_fork_once_tensorflow_is_loaded(monkeypatch):
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    assert pool.pool_context().get_start_method() == ("fork" if pool.forks() else "spawn")
    monkeypatch.setitem(sys.modules, "tensorflow", object())
    assert not pool.forks()
    assert pool.pool_context().get_start_method() in ("forkserver", "spawn")


def _square(n):
    if n < 0:
        raise ValueError(f"negative {n}")
    return n * n, signal.getsignal(signal.SIGINT) == signal.SIG_IGN, _STARTED


def _slow_first(n):
    time.sleep(0.5 if n == 0 else 0.0)
    return n


def _dies(n):
    os._exit(3)


_STARTED: list = []


def _start(*args):
    _STARTED.append(args)


def _broken(done, e):
    return DatasetError(f"died after {done}: {type(e).__name__}")


@pytest.fixture
def forked(monkeypatch):
    """Workers forked from this process (they find the test's functions without importing it)."""
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("needs fork")
    monkeypatch.setattr(pool, "pool_context", lambda: multiprocessing.get_context("fork"))
    monkeypatch.setattr(pool, "forks", lambda: True)
    _STARTED.clear()


@pytest.mark.parametrize("jobs", [1, 3])
def test_run_jobs_yields_every_result_and_starts_each_worker(forked, jobs):
    run = pool.run_jobs(
        _square,
        [1, 2, 3, 4],
        jobs=jobs,
        desc="x",
        progress=False,
        broken=_broken,
        ordered=True,
        initializer=_start,
        initargs=("a", 1),
    )
    results = list(run)
    assert [r[0] for r in results] == [1, 4, 9, 16]
    assert all(started == [("a", 1)] for _, _, started in results)  # once per process
    assert {ignored for _, ignored, _ in results} == {jobs > 1}  # Ctrl-C is the parent's
    assert signal.getsignal(signal.SIGINT) != signal.SIG_IGN


def test_run_jobs_in_completion_order_or_in_task_order(forked):
    common = dict(jobs=2, desc="x", progress=False, broken=_broken)
    assert list(pool.run_jobs(_slow_first, [0, 1, 2], **common)) == [1, 2, 0]
    assert list(pool.run_jobs(_slow_first, [0, 1, 2], ordered=True, **common)) == [0, 1, 2]


def test_run_jobs_runs_before_fork_only_when_it_forks(forked, monkeypatch):
    calls = []
    common = dict(desc="x", progress=False, broken=_broken, before_fork=lambda: calls.append(1))
    list(pool.run_jobs(_slow_first, [1, 2], jobs=1, **common))
    assert calls == []  # nothing pooled
    list(pool.run_jobs(_slow_first, [1, 2], jobs=2, **common))
    assert calls == [1]
    monkeypatch.setattr(pool, "forks", lambda: False)
    list(pool.run_jobs(_slow_first, [1, 2], jobs=2, **common))
    assert calls == [1]


def test_run_jobs_turns_a_dead_worker_into_the_callers_error(forked):
    run = pool.run_jobs(_dies, [1, 2, 3], jobs=2, desc="x", progress=False, broken=_broken)
    with pytest.raises(DatasetError, match="died after 0: BrokenProcessPool") as caught:
        list(run)
    assert isinstance(caught.value.__cause__, concurrent.futures.process.BrokenProcessPool)


@pytest.mark.parametrize("jobs", [1, 2])
def test_run_jobs_passes_a_task_error_through(forked, jobs):
    run = pool.run_jobs(_square, [1, -2], jobs=jobs, desc="x", progress=False, broken=_broken)
    with pytest.raises(ValueError, match="negative -2"):
        list(run)


def test_run_jobs_shows_its_bar(forked, capsys):
    list(pool.run_jobs(_slow_first, [1, 2], jobs=1, desc="features", progress=True, broken=_broken))
    err = capsys.readouterr().err
    assert "features: 100%" in err and "2/2" in err and "piece" in err
