"""timbre.fileio: JSON and NumPy reads that name the file, atomic writes."""

import os
import stat

import numpy as np
import pytest

from timbre.errors import DatasetError
from timbre.fileio import atomic_path, load_npy, read_json, save_npy, write_json


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
