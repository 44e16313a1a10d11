"""timbre.data.features and compute_features.py: tiles, manifest, resume, errors (no TensorFlow)."""

import json
import os

import numpy as np
import pytest
from helpers import FEATURE_INSTRUMENTS, write_audio_folder

from timbre.cli import features as cli_features
from timbre.data.features import compute_features
from timbre.data.piece_features import tile_peaks_db
from timbre.dsp import stft as sp
from timbre.dsp import tiling
from timbre.errors import ConfigError, DatasetError
from timbre.formats.feature_store import tile_path
from timbre.io import audio
from timbre.settings import FeatureConfig, SpectrogramConfig

PIECES = {"a": (1.3, "train"), "b": (0.9, "train"), "c": (0.5, "val"), "d": (0.7, "test")}
ORIGIN, TARGET = FEATURE_INSTRUMENTS


@pytest.fixture
def audios(tmp_path):
    return write_audio_folder(tmp_path / "audios", PIECES)


def read_manifest(features_path):
    return json.loads((features_path / "manifest.json").read_text())


def run(audios, features_path, config, **kwargs):
    kwargs.setdefault("progress", False)
    return compute_features(audios, features_path, spectrogram=config, **kwargs)


@pytest.mark.parametrize("overlap", [0, 12])
def test_tiles_decode_back_to_the_direct_magnitude(audios, tmp_path, small_spec_config, overlap):
    config = small_spec_config
    run(audios, tmp_path / "f", config, features=FeatureConfig(overlap=overlap))
    for instrument in FEATURE_INSTRUMENTS:
        for piece in PIECES:
            samples, _ = audio.load(audios / instrument / f"{piece}.wav")
            direct = np.abs(sp.stft(samples, config)[: config.n_bins]) * sp.magnitude_scale(config)
            tiles = np.load(tile_path(tmp_path / "f", instrument, piece))
            assert tiles.dtype == np.float16 and tiles.shape[1:] == (
                config.n_bins,
                config.tile_frames,
            )
            assert tiles.min() >= -1.0 and tiles.max() <= 1.0
            decoded = tiling.blend(sp.denormalise(tiles, config), direct.shape[1], overlap)
            # float16 keeps 11 significant bits of the normalised value: relative error of the
            # magnitude (+ amin) is at most log1p(1 / amin) / 2 * 2**-11 ~ 0.27 %.
            np.testing.assert_allclose(decoded, direct, rtol=3e-3, atol=3e-3 * config.amin)


def test_pairs_align_tile_for_tile(audios, tmp_path, small_spec_config):
    config = small_spec_config
    run(audios, tmp_path / "f", config, features=FeatureConfig(overlap=5))
    manifest = read_manifest(tmp_path / "f")
    for piece in PIECES:
        origin = np.load(tile_path(tmp_path / "f", ORIGIN, piece)).astype(np.float32)
        target = np.load(tile_path(tmp_path / "f", TARGET, piece)).astype(np.float32)
        assert origin.shape == target.shape
        entry = manifest["pieces"][piece]
        assert (
            len(origin)
            == entry["n_tiles"]
            == len(tiling.tile_starts(entry["n_frames"], config.tile_frames, 5))
        )
        # Both share one on/off envelope: per-frame loudness rises and falls together.
        loud_origin, loud_target = origin.max(axis=1) > 0.5, target.max(axis=1) > 0.5
        assert loud_origin.any() and (~loud_origin).any()
        assert np.mean(loud_origin == loud_target) > 0.98


def test_manifest_contract_and_disjoint_splits(audios, tmp_path, small_spec_config):
    summary = run(audios, tmp_path / "f", small_spec_config)
    data = json.loads((tmp_path / "f" / "manifest.json").read_text())
    assert data["version"] == 1 and data["complete"] is True
    assert (
        data["spectrogram"] == small_spec_config.to_dict()
        and data["features"] == FeatureConfig().to_dict()
    )
    assert data["audios_path"] == str(audios.resolve()) and data["instruments"] == list(
        FEATURE_INSTRUMENTS
    )
    assert set(data["pieces"]) == set(PIECES) and summary.failed == {}
    for piece, (seconds, split) in PIECES.items():
        entry = data["pieces"][piece]
        assert (
            entry["split"] == split
            and entry["seconds"] == seconds
            and piece in data["split"][split]
        )
        assert sorted(entry["peak_db"]) == sorted(FEATURE_INSTRUMENTS)
        assert all(len(values) == entry["n_tiles"] for values in entry["peak_db"].values())
    members = [p for split in data["split"].values() for p in split]
    assert sorted(members) == sorted(PIECES)  # each piece in exactly one split
    assert summary.n_tiles == sum(e["n_tiles"] for e in data["pieces"].values())


def test_a_piece_in_two_audio_splits_is_refused(audios, tmp_path, small_spec_config):
    manifest = json.loads((audios / "manifest.json").read_text())
    manifest["split"]["val"].append("a")
    (audios / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DatasetError, match="piece 'a' is in splits 'train' and 'val'"):
        run(audios, tmp_path / "f", small_spec_config)


def test_audio_without_split_puts_every_piece_in_train(tmp_path, small_spec_config):
    audios = write_audio_folder(tmp_path / "audios", PIECES, split=False)
    run(audios, tmp_path / "f", small_spec_config)
    manifest = read_manifest(tmp_path / "f")
    assert manifest["split_given"] is False and sorted(manifest["split"]["train"]) == sorted(PIECES)


def test_own_recordings_without_a_manifest(tmp_path, small_spec_config, capsys):
    """Instrument folders of .wav files, no manifest.json: paired by name, lengths checked, split
    by piece with a seed (reproducible), the split recorded as made here."""
    from timbre.formats.audio_folder import split_pieces

    pieces = {f"take{i}": (0.4, "train") for i in range(6)}
    audios = write_audio_folder(tmp_path / "audios", pieces)
    (audios / "manifest.json").unlink()
    audio.save(audios / TARGET / "take1.wav", np.full(100, 0.1, np.float32), 16000)  # misaligned
    summary = run(audios, tmp_path / "f", small_spec_config, seed=5)
    assert list(summary.failed) == ["take1"] and "audio lengths differ" in summary.failed["take1"]
    manifest = read_manifest(tmp_path / "f")
    made = split_pieces(pieces, 5)
    assert manifest["split_given"] is True
    assert manifest["split_made"] == {"rule": "80/10/10 % by piece", "seed": 5}
    assert manifest["split"] == {name: [p for p in made[name] if p != "take1"] for name in made}
    assert sorted(manifest["instruments"]) == sorted(FEATURE_INSTRUMENTS)
    assert all(
        tile_path(tmp_path / "f", name, p).exists()
        for name in FEATURE_INSTRUMENTS
        for p in pieces
        if p != "take1"
    )
    argv = ["--audios", str(audios), "--features", str(tmp_path / "g"), "--seed", "5"]
    small_spec_config.save(tmp_path / "spec.json")
    argv += ["--spectrogram_config", str(tmp_path / "spec.json"), "--no_progress"]
    assert cli_features.main(argv) == 1  # take1 failed
    assert "failed: take1:" in capsys.readouterr().err
    assert read_manifest(tmp_path / "g")["split"] == manifest["split"]  # the same seed, split
    assert split_pieces(pieces, 6) != made  # another seed, another split


def test_peaks_measure_loudness(small_spec_config):
    config = small_spec_config
    loud = tiling.tile(
        sp.log_spectrogram(0.5 * np.ones(4000, np.float32) + 0, config)[0], config.tile_frames
    )
    tone = tiling.tile(
        sp.log_spectrogram(np.sin(np.arange(4000) * 0.3).astype(np.float32), config)[0],
        config.tile_frames,
    )
    silent = np.full((2, config.n_bins, config.tile_frames), sp.SILENCE, np.float16)
    assert tile_peaks_db(tone, config)[0] == pytest.approx(0.0, abs=0.5)  # full-scale sine = 0 dB
    assert tile_peaks_db(loud, config)[0] > -10.0
    assert list(tile_peaks_db(silent, config)) == [-200.0, -200.0]


def test_resume_computes_only_what_is_missing(audios, tmp_path, small_spec_config, monkeypatch):
    features = tmp_path / "f"
    run(audios, features, small_spec_config)
    before = {p: os.stat(tile_path(features, ORIGIN, p)).st_mtime_ns for p in PIECES}
    manifest_before = (features / "manifest.json").read_bytes()
    tile_path(features, TARGET, "b").unlink()
    calls = []
    real = sp.log_spectrogram
    monkeypatch.setattr(sp, "log_spectrogram", lambda *a, **k: calls.append(1) or real(*a, **k))
    summary = run(audios, features, small_spec_config)
    assert (
        summary.computed == ["b"] and sorted(summary.skipped) == ["a", "c", "d"] and len(calls) == 1
    )
    assert {p: os.stat(tile_path(features, ORIGIN, p)).st_mtime_ns for p in PIECES} == before
    assert (features / "manifest.json").read_bytes() == manifest_before
    calls.clear()
    assert run(audios, features, small_spec_config).computed == [] and calls == []


def test_resume_without_a_finished_manifest_reads_peaks_from_the_files(
    audios, tmp_path, small_spec_config
):
    features = tmp_path / "f"
    run(audios, features, small_spec_config)
    finished = json.loads((features / "manifest.json").read_text())
    (features / "manifest.json").write_text(
        json.dumps({**finished, "pieces": {}, "complete": False})
    )
    summary = run(audios, features, small_spec_config)
    assert (
        summary.computed == [] and json.loads((features / "manifest.json").read_text()) == finished
    )


def test_runs_are_deterministic_and_the_pool_matches(audios, tmp_path, small_spec_config):
    run(audios, tmp_path / "one", small_spec_config, jobs=1)
    run(audios, tmp_path / "two", small_spec_config, jobs=2)
    for instrument in FEATURE_INSTRUMENTS:
        for piece in PIECES:
            assert (
                tile_path(tmp_path / "one", instrument, piece).read_bytes()
                == tile_path(tmp_path / "two", instrument, piece).read_bytes()
            )
    assert (tmp_path / "one" / "manifest.json").read_bytes() == (
        tmp_path / "two" / "manifest.json"
    ).read_bytes()


def test_instrument_subset_and_unknown_instrument(audios, tmp_path, small_spec_config):
    run(audios, tmp_path / "f", small_spec_config, instruments=[TARGET])
    assert read_manifest(tmp_path / "f")["instruments"] == [TARGET]
    assert not (tmp_path / "f" / ORIGIN).exists()
    summary = run(
        audios, tmp_path / "f", small_spec_config, instruments=[ORIGIN]
    )  # adds one, keeps the other
    manifest = read_manifest(tmp_path / "f")
    assert manifest["instruments"] == [TARGET, ORIGIN] and summary.computed == sorted(PIECES)
    assert all(
        sorted(entry["peak_db"]) == sorted(FEATURE_INSTRUMENTS)
        for entry in manifest["pieces"].values()
    )
    with pytest.raises(
        DatasetError, match="unknown instrument 'string_acoustc'.*did you mean 'string_acoustic'"
    ):
        run(audios, tmp_path / "g", small_spec_config, instruments=["string_acoustc"])


def test_bad_pieces_fail_alone(audios, tmp_path, small_spec_config):
    audio.save(audios / TARGET / "b.wav", np.zeros(100, np.float32) + 0.1, 16000)  # length differs
    (audios / ORIGIN / "c.wav").unlink()
    summary = run(audios, tmp_path / "f", small_spec_config)
    assert sorted(summary.failed) == ["b", "c"]
    assert (
        "audio lengths differ" in summary.failed["b"]
        and "c.wav: file not found" in summary.failed["c"]
    )
    data = json.loads((tmp_path / "f" / "manifest.json").read_text())
    assert sorted(data["pieces"]) == ["a", "d"] and sorted(data["failed"]) == ["b", "c"]
    assert "b" not in data["split"]["train"]


def test_settings_errors(audios, tmp_path, small_spec_config):
    with pytest.raises(DatasetError, match="audio folder not found"):
        run(tmp_path / "nowhere", tmp_path / "f", small_spec_config)
    with pytest.raises(ConfigError, match=r"overlap=32 \(expected 0 to tile_frames - 1 = 31\)"):
        run(audios, tmp_path / "f", small_spec_config, features=FeatureConfig(overlap=32))
    with pytest.raises(ConfigError, match="jobs=0 must be a positive integer"):
        run(audios, tmp_path / "f", small_spec_config, jobs=0)
    run(audios, tmp_path / "f", small_spec_config)
    with pytest.raises(
        ConfigError, match=r"holds tiles made with other settings: overlap=0 \(requested 4\)"
    ):
        run(audios, tmp_path / "f", small_spec_config, features=FeatureConfig(overlap=4))
    other = SpectrogramConfig(
        sample_rate=16000, n_fft=256, hop_length=128, n_bins=16, tile_frames=32
    )
    with pytest.raises(
        ConfigError,
        match=r"other settings: n_bins=32 \(requested 16\); use another features folder",
    ):
        run(audios, tmp_path / "f", other)


def test_cli_computes_features(audios, tmp_path, small_spec_config, capsys):
    config_file = tmp_path / "spec.json"
    small_spec_config.save(config_file)
    argv = [
        "--audios",
        str(audios),
        "--features",
        str(tmp_path / "f"),
        "--overlap",
        "4",
        "--keep_silent",
        "--spectrogram_config",
        str(config_file),
        "--jobs",
        "1",
        "--no_progress",
    ]
    assert cli_features.main(argv) == 0
    assert "4 pieces computed, 0 already done, 0 failed" in capsys.readouterr().out
    manifest = read_manifest(tmp_path / "f")
    assert manifest["features"] == FeatureConfig(overlap=4, keep_silent=True).to_dict()
    assert manifest["spectrogram"] == small_spec_config.to_dict()
    assert all(
        tile_path(tmp_path / "f", i, p).exists() for i in FEATURE_INSTRUMENTS for p in PIECES
    )
    assert cli_features.main(argv) == 0
    assert "0 pieces computed, 4 already done" in capsys.readouterr().out


def test_cli_reports_failures_and_errors(audios, tmp_path, small_spec_config, capsys):
    config_file = tmp_path / "spec.json"
    small_spec_config.save(config_file)
    (audios / ORIGIN / "d.wav").write_bytes(b"RIFF garbage")
    base = [
        "--audios_path",
        str(audios),
        "--features_path",
        str(tmp_path / "f"),
        "--spectrogram_config",
        str(config_file),
        "--no_progress",
    ]
    assert cli_features.main(base + ["--jobs", "1"]) == 1
    captured = capsys.readouterr()
    assert (
        "3 pieces computed" in captured.out
        and "failed: d:" in captured.err
        and "d.wav" in captured.err
    )
    assert cli_features.main(base + ["--instruments", "flute_synthetic"]) == 1
    assert "error: unknown instrument 'flute_synthetic'" in capsys.readouterr().err
    assert (
        cli_features.main(["--audios", str(tmp_path / "nope"), "--features", str(tmp_path / "g")])
        == 1
    )
    assert "error: --audios_path" in capsys.readouterr().err
