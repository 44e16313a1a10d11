"""timbre.io.atomic: JSON and NumPy reads that name the file, atomic writes."""

import os
import signal
import stat
import subprocess
import sys

import numpy as np
import pytest

from timbre.errors import BusyError, DatasetError
from timbre.io.atomic import (
    atomic_folder,
    atomic_path,
    is_temporary,
    load_npy,
    read_json,
    remove_temporaries,
    run_lock,
    save_npy,
    temporary_path,
    write_json,
)


def test_fileio_errors(tmp_path):
    with pytest.raises(DatasetError, match="nothing.json: file not found"):
        read_json(tmp_path / "nothing.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(DatasetError, match="bad.json: not valid JSON"):
        read_json(tmp_path / "bad.json")
    with pytest.raises(DatasetError, match="nothing.npy: file not found"):
        load_npy(tmp_path / "nothing.npy")
    save_npy(tmp_path / "a.npy", np.arange(1000, dtype=np.float16))
    data = (tmp_path / "a.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(data[:500])
    with pytest.raises(DatasetError, match="cut.npy: corrupt or truncated"):
        load_npy(tmp_path / "cut.npy")
    write_json(tmp_path / "ok.json", {"a": 1})
    assert read_json(tmp_path / "ok.json") == {"a": 1}


def test_written_files_get_the_usual_permissions(tmp_path):
    mask = os.umask(0o022)
    try:
        write_json(tmp_path / "a.json", {})
        save_npy(tmp_path / "a.npy", np.zeros(3))
    finally:
        os.umask(mask)
    for name in ("a.json", "a.npy"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "sub" / "a.json"
    write_json(path, {"old": True})
    with pytest.raises(RuntimeError, match="killed"):
        with atomic_path(path) as tmp:
            assert tmp.parent == path.parent and tmp.suffix == ".json"
            tmp.write_text("half written")
            raise RuntimeError("killed")
    assert read_json(path) == {"old": True}
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.json"]


def test_run_lock_refuses_a_second_run_and_names_the_holder(tmp_path):
    with run_lock(tmp_path / "out", "train.py --model out") as path:
        assert path.read_text() == f"PID {os.getpid()}: train.py --model out"
        code = (
            "import sys\n"
            "from timbre.io.atomic import run_lock\n"
            "from timbre.errors import BusyError\n"
            "try:\n"
            f"    with run_lock({str(tmp_path / 'out')!r}, 'second'):\n"
            "        sys.exit(0)\n"
            "except BusyError as e:\n"
            "    print(e)\n"
            "    sys.exit(3)\n"
        )
        other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert other.returncode == 3
        assert f"in use by another timbre run (PID {os.getpid()}: train.py --model out)" in (
            other.stdout
        )
    assert not path.exists()  # released and removed on a normal exit
    with run_lock(tmp_path / "out", "again"):  # free again
        pass


def test_run_lock_of_a_killed_run_is_taken_over(tmp_path):
    code = (
        "import os, sys, time\n"
        "from timbre.io.atomic import run_lock\n"
        f"with run_lock({str(tmp_path)!r}, 'doomed'):\n"
        "    print('locked', flush=True)\n"
        "    time.sleep(60)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(BusyError, match="doomed"):
            with run_lock(tmp_path, "me"):
                pass
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
    finally:
        holder.kill()
    assert (tmp_path / ".timbre.lock").exists()  # left behind by the kill
    with run_lock(tmp_path, "me") as path:  # stale: taken over
        assert "me" in path.read_text()


def test_run_lock_is_released_when_the_body_raises(tmp_path):
    with pytest.raises(RuntimeError):
        with run_lock(tmp_path, "first"):
            raise RuntimeError("boom")
    with run_lock(tmp_path, "second"):
        pass


def test_temporary_names_are_recognised_and_removed(tmp_path):
    file, folder = temporary_path(tmp_path / "take.wav"), temporary_path(tmp_path / "m", True)
    assert file.is_file() and file.name.startswith(".take.tmp-") and file.suffix == ".wav"
    assert folder.is_dir() and folder.name.startswith(".m.tmp-")
    assert is_temporary(file) and is_temporary(folder)
    assert not is_temporary(tmp_path / "take.wav") and not is_temporary(tmp_path / ".tmp-x")
    (folder / "inside.bin").write_bytes(b"x")
    (tmp_path / "kept.wav").write_bytes(b"x")
    sub = tmp_path / "sub"
    sub.mkdir()
    temporary_path(sub / "a.npy")
    assert remove_temporaries([tmp_path, sub, tmp_path / "missing"]) == 3
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["kept.wav", "sub"]


def test_atomic_folder_replaces_a_folder_whole_or_not_at_all(tmp_path):
    target = tmp_path / "out" / "saved_model"
    with atomic_folder(target) as tmp:
        assert is_temporary(tmp) and tmp.parent == target.parent
        (tmp / "one").write_text("1")
    assert sorted(p.name for p in target.iterdir()) == ["one"]
    with atomic_folder(target) as tmp:
        (tmp / "two").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["two"]  # the old folder is gone
    with pytest.raises(RuntimeError, match="stopped"):
        with atomic_folder(target) as tmp:
            (tmp / "three").write_text("3")
            raise RuntimeError("stopped")
    assert sorted(p.name for p in target.iterdir()) == ["two"]
    assert sorted(p.name for p in target.parent.iterdir()) == ["saved_model"]  # no leftovers
