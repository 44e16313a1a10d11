import numpy as np
import pytest

from timbre.config import SpectrogramConfig
from timbre.errors import ConfigError, DatasetError
from timbre.fileio import load_npy, read_json, save_npy, write_json


def test_defaults_follow_design():
    config = SpectrogramConfig()
    assert (
        config.sample_rate,
        config.n_fft,
        config.hop_length,
        config.n_bins,
        config.tile_frames,
    ) == (44100, 1024, 512, 256, 256)
    assert config.amin == 2.0**-16
    assert config.tile_seconds == pytest.approx(2.972, abs=1e-3)


def test_json_round_trip(tmp_path):
    config = SpectrogramConfig(sample_rate=16000, n_bins=100)
    config.save(tmp_path / "c.json")
    assert SpectrogramConfig.load(tmp_path / "c.json") == config


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"hop_length": 0}, "hop_length=0 must be a positive integer"),
        ({"n_fft": 2.5}, "n_fft=2.5 must be a positive integer"),
        ({"n_bins": 600}, "n_bins=600 exceeds the 513 bins"),
        ({"hop_length": 2048}, "hop_length=2048 exceeds n_fft"),
        ({"amin": 0.0}, "amin=0.0 must lie in"),
    ],
)
def test_validation(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        SpectrogramConfig(**kwargs)


def test_unknown_keys_refused():
    with pytest.raises(ConfigError, match="unknown SpectrogramConfig keys \\['hop'\\]"):
        SpectrogramConfig.from_dict({"hop": 3})


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
    import os
    import stat

    mask = os.umask(0o022)
    try:
        write_json(tmp_path / "a.json", {})
        save_npy(tmp_path / "a.npy", np.zeros(3))
    finally:
        os.umask(mask)
    for name in ("a.json", "a.npy"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644
