"""timbre.formats.feature_store: the store's manifest, splits, tile paths and files (no TF)."""

import dataclasses
import re

import numpy as np
import pytest
from helpers import (
    FEATURE_INSTRUMENTS,
    SMALL_SPEC,
    sine,
    write_audio_folder,
    write_audio_manifest,
    write_features_manifest,
)

from timbre.data.features import compute_features
from timbre.data.piece_features import PieceJob
from timbre.errors import ConfigError, DatasetError
from timbre.formats import audio_folder, feature_store
from timbre.formats.feature_store import load_manifest, tile_file_layout
from timbre.io import audio
from timbre.io.atomic import read_json, write_json
from timbre.settings import FeatureConfig

ORIGIN, TARGET = FEATURE_INSTRUMENTS
PIECES = {"p0": (5, "train"), "p1": (3, "train"), "p2": (1, "train"), "p3": (4, "val")}


def entries(pieces):
    """piece -> (n_tiles, split) as manifest entries."""
    return {piece: {"n_tiles": n, "split": split} for piece, (n, split) in pieces.items()}


def test_write_then_load_round_trip(tmp_path):
    audios = tmp_path / "audios"
    header = {
        "spectrogram": SMALL_SPEC.to_dict(),
        "features": FeatureConfig(overlap=4).to_dict(),
        "audios_path": str(audios),
        "instruments": list(FEATURE_INSTRUMENTS),
        "split_given": False,
    }
    pieces = {
        "b": {"n_tiles": 3, "n_frames": 70, "split": "train", "seconds": 0.6},
        "a": {
            "n_tiles": 3,
            "split": "train",
            "seconds": 0.7,
            "peak_db": {ORIGIN: [-3.0, -200.0, -6.0], TARGET: [-1.0, -2.0, -3.0]},
        },
    }
    feature_store.write_manifest(
        tmp_path, header, pieces, {"z": "unreadable", "y": "gone"}, complete=True
    )
    manifest = load_manifest(tmp_path)
    assert manifest.path == tmp_path and manifest.audios_path == audios
    assert manifest.spectrogram == SMALL_SPEC and manifest.features == FeatureConfig(overlap=4)
    assert manifest.instruments == FEATURE_INSTRUMENTS and manifest.split_given is False
    assert manifest.pieces == pieces
    assert manifest.tile_path(ORIGIN, "a") == tmp_path / ORIGIN / "a.npy"
    assert manifest.audio_path(TARGET, "b") == audios / TARGET / "b.wav"
    np.testing.assert_array_equal(manifest.tile_starts("b"), [0, 28, 38])  # from n_frames=70
    np.testing.assert_array_equal(manifest.tile_starts("a"), [0, 28, 56])  # regular steps
    raw = read_json(tmp_path / feature_store.MANIFEST)
    assert raw["version"] == feature_store.VERSION and raw["complete"] is True
    assert list(raw["pieces"]) == ["a", "b"] and list(raw["failed"]) == ["y", "z"]
    assert feature_store.read_previous(tmp_path) == raw
    assert feature_store.read_previous(tmp_path / "elsewhere") == {}


def test_split_lists_are_derived_from_the_pieces(tmp_path):
    pieces = {**PIECES, "p4": (2, "test"), "p5": (2, "val")}
    write_features_manifest(tmp_path, SMALL_SPEC, entries(pieces))
    raw = read_json(tmp_path / feature_store.MANIFEST)
    assert raw["split"] == {"train": ["p0", "p1", "p2"], "val": ["p3", "p5"], "test": ["p4"]}
    manifest = load_manifest(tmp_path)
    assert manifest.split == raw["split"] and manifest.split_counts() == "train 3, val 2, test 1"
    assert manifest.audios_path is None and manifest.audio_path(ORIGIN, "p0") is None


@pytest.mark.parametrize("name", ["../x", "/abs", "a/b", "..", "a\\b", ""])
def test_a_piece_name_that_would_leave_the_folder_is_refused(tmp_path, name):
    features = write_features_manifest(
        tmp_path / "f", SMALL_SPEC, entries({"ok": (1, "train"), name: (1, "train")})
    )
    message = f"{features / feature_store.MANIFEST}: piece name {name!r} is not a plain file name"
    with pytest.raises(DatasetError, match=re.escape(message)):
        load_manifest(features)


def test_an_instrument_name_that_would_leave_the_folder_is_refused(tmp_path):
    features = write_features_manifest(
        tmp_path / "f", SMALL_SPEC, entries(PIECES), instruments=["../keys", TARGET]
    )
    message = (
        f"{features / feature_store.MANIFEST}: instrument name '../keys' is not a plain file name"
    )
    with pytest.raises(DatasetError, match=re.escape(message)):
        load_manifest(features)


def test_select_splits_and_piece_lists(tmp_path):
    manifest = load_manifest(write_features_manifest(tmp_path, SMALL_SPEC, entries(PIECES)))
    assert manifest.select("train") == ["p0", "p1", "p2"]
    assert manifest.select(["p3", "p0", "p3"]) == ["p3", "p0"]  # duplicates dropped, order kept
    with pytest.raises(
        ConfigError, match=r"split 'validation' \(expected one of test, train, val\)"
    ):
        manifest.select("validation")
    with pytest.raises(
        DatasetError,
        match=r"split 'test' has 0 pieces \(4 pieces in total: train 3, val 1, test 0\)$",
    ):
        manifest.select("test")
    with pytest.raises(DatasetError, match=r"pieces \['zz'\] are not in the features at"):
        manifest.select(["p0", "zz"])
    with pytest.raises(DatasetError, match="split: an empty list of pieces"):
        manifest.select([])


def test_an_empty_split_of_audio_without_splits_hints_at_split_by_fraction(tmp_path):
    pieces = {"a": (2, "train"), "b": (1, "train")}
    features = write_features_manifest(tmp_path, SMALL_SPEC, entries(pieces), split_given=False)
    with pytest.raises(
        DatasetError,
        match="split 'val' has 0 pieces .*; the audio had no split: use split_by_fraction",
    ):
        load_manifest(features).select("val")


def test_check_instrument_suggests_the_close_name(tmp_path):
    manifest = load_manifest(write_features_manifest(tmp_path, SMALL_SPEC, entries(PIECES)))
    manifest.check_instrument("origin", ORIGIN)  # present: no error
    with pytest.raises(
        DatasetError,
        match=r"target instrument 'strings_acoustic' is not in the features at .* \(available: "
        r"keyboard_acoustic, string_acoustic\); did you mean 'string_acoustic'\?",
    ):
        manifest.check_instrument("target", "strings_acoustic")
    with pytest.raises(
        DatasetError, match=r"origin instrument 'flute' .*string_acoustic\)$"
    ):  # nothing close: no hint
        manifest.check_instrument("origin", "flute")


def test_check_spectrogram_and_settings_diff(tmp_path):
    manifest = load_manifest(write_features_manifest(tmp_path, SMALL_SPEC, entries(PIECES)))
    manifest.check_spectrogram(None)
    manifest.check_spectrogram(SMALL_SPEC)
    with pytest.raises(
        ConfigError, match=r"other spectrogram settings: n_bins=32 \(requested 16\) \(expected"
    ):
        manifest.check_spectrogram(dataclasses.replace(SMALL_SPEC, n_bins=16))
    have = {"n_bins": 32, "hop_length": 128}
    assert feature_store.settings_diff(have, {"n_bins": 32, "hop_length": 64, "overlap": 4}) == (
        "hop_length=128 (requested 64), overlap=None (requested 4)"
    )
    assert feature_store.settings_diff(have, {"n_bins": 32}) == ""


def test_manifest_errors_name_the_file(tmp_path):
    with pytest.raises(DatasetError, match="features folder not found"):
        load_manifest(tmp_path / "nowhere")
    features = write_features_manifest(tmp_path / "f", SMALL_SPEC, entries(PIECES))
    manifest = features / feature_store.MANIFEST
    data = read_json(manifest)
    write_json(manifest, {**data, "split": {"train": ["p0"], "val": ["p0"]}})
    with pytest.raises(
        DatasetError, match="manifest.json: piece 'p0' is in splits 'train' and 'val'"
    ):
        load_manifest(features)
    write_json(manifest, {**data, "split": {"train": ["p0", "zz"]}})
    with pytest.raises(DatasetError, match="manifest.json: split 'train' names unknown piece 'zz'"):
        load_manifest(features)
    write_json(manifest, {**data, "pieces": {**data["pieces"], "p9": {"split": "train"}}})
    with pytest.raises(DatasetError, match="manifest.json: piece 'p9' has no tile count 'n_tiles'"):
        load_manifest(features)
    write_json(manifest, {**data, "version": 2})
    with pytest.raises(
        DatasetError, match="manifest.json: version 2 .expected a features manifest"
    ):
        load_manifest(features)
    write_json(manifest, {k: v for k, v in data.items() if k != "pieces"})
    with pytest.raises(DatasetError, match=r"manifest.json: missing keys \['pieces'\]"):
        load_manifest(features)
    manifest.write_text(manifest.read_text()[:-20])
    with pytest.raises(DatasetError, match="manifest.json: not valid JSON"):
        load_manifest(features)
    write_json(manifest, {**data, "complete": False})
    with pytest.warns(UserWarning, match="the feature run has not finished"):
        load_manifest(features)
    manifest.unlink()
    with pytest.raises(DatasetError, match="manifest.json: file not found"):
        load_manifest(features)


def test_tile_file_layout_names_bad_files(tmp_path):
    good = tmp_path / "good.npy"
    np.save(good, np.zeros((3, 4, 5), np.float16))
    offset, shape = tile_file_layout(good)
    assert shape == (3, 4, 5) and offset == good.stat().st_size - 3 * 4 * 5 * 2
    truncated = tmp_path / "cut.npy"
    truncated.write_bytes(good.read_bytes()[:-7])
    with pytest.raises(DatasetError, match="cut.npy: truncated or corrupt tile file"):
        tile_file_layout(truncated)
    (tmp_path / "junk.npy").write_bytes(b"not an array at all")
    with pytest.raises(DatasetError, match="junk.npy: corrupt tile file, not a NumPy .npy array"):
        tile_file_layout(tmp_path / "junk.npy")
    np.save(tmp_path / "wide.npy", np.zeros((3, 4, 5), np.float32))
    with pytest.raises(
        DatasetError, match=r"wide.npy: float32 array of shape \(3, 4, 5\) \(expected float16 tiles"
    ):
        tile_file_layout(tmp_path / "wide.npy")
    with pytest.raises(DatasetError, match="missing.npy: tile file not found"):
        tile_file_layout(tmp_path / "missing.npy")


def test_an_escaping_audio_piece_stops_compute_features_before_it_writes(tmp_path):
    audios, features = tmp_path / "audios", tmp_path / "features"
    escaping = "../../outside/x"
    pieces = {"a": (0.5, "train"), escaping: (0.5, "train")}
    write_audio_folder(audios, {"a": (0.5, "train")})
    outside = audios / ORIGIN / f"{escaping}.wav"  # <tmp>/outside/x.wav
    audio.save(outside, sine(440.0, 0.5, 16000), 16000)  # readable, were the name accepted
    assert outside.resolve() == (tmp_path / "outside" / "x.wav").resolve()
    write_audio_manifest(audios, pieces)
    before = sorted(tmp_path.rglob("*"))
    message = f"manifest.json: piece name {escaping!r} is not a plain file name"
    with pytest.raises(DatasetError, match=re.escape(message)):
        compute_features(audios, features, spectrogram=SMALL_SPEC, progress=False)
    after = sorted(tmp_path.rglob("*"))
    assert [p for p in after if features not in p.parents and p != features] == before
    assert not [p for p in after if p.suffix == ".npy"]


def _readers(tmp_path):
    """Every way the stores name a piece's file: name -> call(instrument, piece)."""
    audios, features = tmp_path / "audios", tmp_path / "features"
    header = {
        "spectrogram": SMALL_SPEC.to_dict(),
        "features": FeatureConfig().to_dict(),
        "audios_path": str(audios),
        "instruments": list(FEATURE_INSTRUMENTS),
    }
    feature_store.write_manifest(features, header, entries({"a": (1, "train")}), {}, True)
    manifest = load_manifest(features)
    job = PieceJob(audios, features, "a", FEATURE_INSTRUMENTS, (), SMALL_SPEC, 0)
    return {
        "audio_folder.piece_path": lambda i, p: audio_folder.piece_path(audios, i, p),
        "feature_store.tile_path": lambda i, p: feature_store.tile_path(features, i, p),
        "FeatureManifest.tile_path": manifest.tile_path,
        "FeatureManifest.audio_path": manifest.audio_path,
        "PieceJob.wav": lambda i, p: dataclasses.replace(job, piece=p).wav(i),
        "PieceJob.tiles": lambda i, p: dataclasses.replace(job, piece=p).tiles(i),
    }


READERS = [
    "audio_folder.piece_path",
    "feature_store.tile_path",
    "FeatureManifest.tile_path",
    "FeatureManifest.audio_path",
    "PieceJob.wav",
    "PieceJob.tiles",
]


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("role", ["piece", "instrument"])
def test_every_reader_refuses_a_name_that_would_leave_its_folder(tmp_path, reader, role):
    call = _readers(tmp_path)[reader]
    with pytest.raises(DatasetError, match=re.escape(f"{role} name '../x' is not a plain file")):
        call(ORIGIN, "../x") if role == "piece" else call("../x", "a")


@pytest.mark.parametrize("reader", READERS)
def test_every_reader_refuses_a_symlink_that_leads_out(tmp_path, reader):
    call = _readers(tmp_path)[reader]
    (tmp_path / "elsewhere").mkdir()
    for folder in (tmp_path / "audios", tmp_path / "features"):
        folder.mkdir(exist_ok=True)
        (folder / ORIGIN).symlink_to(tmp_path / "elsewhere")
    with pytest.raises(DatasetError, match="outside .*a symlink that leads out of it"):
        call(ORIGIN, "a")
    assert call(TARGET, "a").parent.name == TARGET  # the other instrument is fine


def test_instrument_folders_are_checked_too(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    for module in (audio_folder, feature_store):
        root = tmp_path / module.__name__
        root.mkdir()
        assert module.instrument_folder(root, ORIGIN) == root / ORIGIN
        (root / TARGET).symlink_to(tmp_path / "elsewhere")
        with pytest.raises(DatasetError, match="manifest.json: .* outside"):
            module.instrument_folder(root, TARGET)
