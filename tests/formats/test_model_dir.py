"""timbre.formats.model_dir: a model directory's paths, clearing a run, reading its settings."""

import pytest
from helpers import SMALL_SPEC, write_model_dir

from timbre.errors import ModelError
from timbre.formats.model_dir import ModelDir, read_model_info


def test_paths_follow_the_documented_layout(tmp_path):
    files = ModelDir(tmp_path)
    assert [
        files.config,
        files.generator,
        files.checkpoints,
        files.history,
        files.curves,
        files.logs,
        files.eval,
    ] == [
        tmp_path / "config.json",
        tmp_path / "generator.keras",
        tmp_path / "checkpoints",
        tmp_path / "history.csv",
        tmp_path / "curves.png",
        tmp_path / "logs",
        tmp_path / "eval",
    ]
    assert files.checkpoint(7) == tmp_path / "checkpoints" / "epoch_0007.npz"
    assert files.sample(12, ".wav") == tmp_path / "samples" / "epoch_012.wav"
    assert not list(tmp_path.iterdir())  # nothing is created until written


def test_config_round_trip(tmp_path):
    files = ModelDir(tmp_path / "model")
    assert files.read_config() is None
    files.write_config({"version": 1, "origin": "keys"})
    assert files.read_config() == {"version": 1, "origin": "keys"}


def test_clear_run_removes_only_what_a_run_writes(tmp_path):
    files = ModelDir(tmp_path)
    files.write_config({"version": 1})
    files.generator.write_text("model")
    files.history.write_text("epoch\n1\n")
    files.curves.write_bytes(b"png")
    files.checkpoint(1).parent.mkdir()
    files.checkpoint(1).write_bytes(b"npz")
    files.sample(1, ".png").parent.mkdir()
    files.sample(1, ".png").write_bytes(b"png")
    (files.logs / "train").mkdir(parents=True)
    files.eval.mkdir()
    (files.eval / "results.json").write_text("{}")
    (tmp_path / "notes.txt").write_text("mine")
    files.clear_run()
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "eval",
        "eval/results.json",
        "notes.txt",
    ]
    files.clear_run()  # nothing left to remove: no error
    ModelDir(tmp_path / "missing").clear_run()


def test_read_model_info_from_the_folder_or_its_generator(tmp_path):
    model = write_model_dir(tmp_path / "model", SMALL_SPEC, origin="keys", target="strings")
    info = read_model_info(model)
    assert (info.directory, info.generator) == (model, model / "generator.keras")
    assert (info.spectrogram, info.origin, info.target) == (SMALL_SPEC, "keys", "strings")
    assert read_model_info(model / "generator.keras") == info
    anonymous = write_model_dir(tmp_path / "other", SMALL_SPEC, origin=None, target=None)
    assert (read_model_info(anonymous).origin, read_model_info(anonymous).target) == (None, None)


def test_read_model_info_errors(tmp_path):
    with pytest.raises(ModelError, match=r"nothing: not found \(expected a model directory"):
        read_model_info(tmp_path / "nothing")
    (tmp_path / "weights.h5").write_bytes(b"")
    with pytest.raises(ModelError, match=r"weights.h5: not a model, not a .keras file"):
        read_model_info(tmp_path / "weights.h5")
    files = ModelDir(tmp_path / "empty")
    files.path.mkdir()
    with pytest.raises(ModelError, match=r"config.json and generator.keras missing"):
        read_model_info(files.path)
    files.generator.write_text("placeholder")
    with pytest.raises(ModelError, match=r"empty: not a model, config.json missing in"):
        read_model_info(files.path)
    files.config.write_text("{")
    with pytest.raises(ModelError, match=r"config.json: not valid JSON .*\(expected a model"):
        read_model_info(files.path)
    files.write_config({})
    with pytest.raises(ModelError, match=r"config.json: no 'spectrogram' settings"):
        read_model_info(files.path)
    files.write_config({"spectrogram": {**SMALL_SPEC.to_dict(), "hop_length": 0}})
    with pytest.raises(
        ModelError, match=r"config.json: unusable spectrogram settings \(.*hop_length=0"
    ):
        read_model_info(files.path)
    files.write_config({"spectrogram": {"hop": 3}})
    with pytest.raises(ModelError, match=r"unusable spectrogram settings \(.*unknown"):
        read_model_info(files.path)
