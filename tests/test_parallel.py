import sys

import pytest

from timbre.errors import ConfigError
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
