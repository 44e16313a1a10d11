"""timbre.tf.run_dir: the model directory over a training run (lock, clean-up of a failed start).

Restoring, the export of the best epoch and the curves are tested through whole runs in
test_fit.py.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers import SMALL_SPEC, TINY_MODEL

from timbre.settings import TrainConfig


def _run(model_dir: Path):
    from timbre.tf.run import Run

    return Run(
        Path("f"), model_dir, "gan", "keys", "strings", SMALL_SPEC, TINY_MODEL, TrainConfig()
    )


CHIEF = SimpleNamespace(extended=SimpleNamespace(should_checkpoint=True))
WORKER = SimpleNamespace(extended=SimpleNamespace(should_checkpoint=False))


def test_a_start_that_fails_before_its_first_checkpoint_removes_what_it_wrote(tmp_path):
    from timbre.tf.run_dir import chief_lock

    run = _run(tmp_path / "model")
    with pytest.raises(MemoryError), chief_lock(run, CHIEF):
        run.files.write_config(run.to_dict())
        raise MemoryError
    assert not run.model_dir.exists()  # created by the run: removed with it

    run.model_dir.mkdir()
    (run.model_dir / "notes.txt").write_text("mine")
    with pytest.raises(KeyboardInterrupt), chief_lock(run, CHIEF):
        run.files.write_config(run.to_dict())
        raise KeyboardInterrupt
    assert [p.name for p in run.model_dir.iterdir()] == ["notes.txt"]  # the user's file stays


def test_the_lock_keeps_what_a_run_wrote_once_it_has_a_checkpoint(tmp_path):
    from timbre.tf.run_dir import chief_lock

    run = _run(tmp_path / "model")
    with pytest.raises(MemoryError), chief_lock(run, CHIEF):
        run.files.write_config(run.to_dict())
        run.files.checkpoint(1).parent.mkdir(parents=True)
        run.files.checkpoint(1).write_bytes(b"")
        raise MemoryError
    assert run.files.config.exists() and run.files.checkpoint(1).exists()


def test_other_workers_neither_lock_nor_clean(tmp_path):
    from timbre.tf.run_dir import chief_lock

    run = _run(tmp_path / "model")
    with pytest.raises(MemoryError), chief_lock(run, WORKER):
        assert not run.model_dir.exists()
        raise MemoryError
    with chief_lock(run, CHIEF), chief_lock(run, WORKER):  # the chief's lock does not block it
        pass
