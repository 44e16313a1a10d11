"""timbre.formats.audio_folder: the paired-audio folder's manifest, its names and its splits."""

import re

import pytest
from helpers import FEATURE_INSTRUMENTS, write_audio_manifest

from timbre.errors import ConfigError, DatasetError
from timbre.formats import audio_folder
from timbre.io.atomic import write_json

PIECES = {"a": (1.0, "train"), "b": (0.5, "val"), "c": (0.7, "test")}


def test_write_then_read_round_trip(tmp_path):
    header = {"synth": {"transpose": 2}, "sample_rate": 16000, "instruments": ["keys", "strings"]}
    pieces = {"a": {"midi": "a.mid", "seconds": 1.0, "split": "train"}}
    split = {"train": ["a"], "val": [], "test": []}
    path = audio_folder.write(tmp_path, header, pieces, split, {"x.mid": "no notes"})
    assert path == tmp_path / audio_folder.MANIFEST
    assert audio_folder.read(tmp_path) == {
        "version": audio_folder.VERSION,
        **header,
        "pieces": pieces,
        "split": split,
        "failed": {"x.mid": "no notes"},
    }
    assert audio_folder.read_previous(tmp_path) == audio_folder.read(tmp_path)
    assert audio_folder.read_previous(tmp_path / "elsewhere") is None
    assert audio_folder.piece_path(tmp_path, "keys", "a") == tmp_path / "keys" / "a.wav"


@pytest.mark.parametrize("name", ["../x", "../../outside/x", "/abs", "a/b", "a\\b", "..", ".", ""])
def test_read_refuses_a_piece_name_that_would_escape(tmp_path, name):
    write_audio_manifest(tmp_path, {**PIECES, name: (1.0, "train")})
    message = f"{tmp_path / 'manifest.json'}: piece name {name!r} is not a plain file name"
    with pytest.raises(DatasetError, match=re.escape(message)):
        audio_folder.read(tmp_path)


def test_read_refuses_an_instrument_name_that_would_escape(tmp_path):
    write_audio_manifest(tmp_path, PIECES, instruments=[FEATURE_INSTRUMENTS[0], "../strings"])
    with pytest.raises(DatasetError, match="instrument name '../strings' is not a plain file name"):
        audio_folder.read(tmp_path)


def test_check_name_refuses_what_is_not_a_string():
    with pytest.raises(DatasetError, match=r"here: piece name 3 is not a plain file name"):
        audio_folder.check_name("here", "piece", 3)
    audio_folder.check_name("here", "piece", "sub__song-2")  # a plain name passes


def test_read_errors_name_the_file(tmp_path):
    manifest = tmp_path / "manifest.json"
    manifest.write_text("{not json")
    with pytest.raises(DatasetError, match="manifest.json: not valid JSON"):
        audio_folder.read(tmp_path)
    write_json(manifest, {"version": 1})
    with pytest.raises(DatasetError, match="no 'pieces' and 'instruments'"):
        audio_folder.read(tmp_path)
    manifest.unlink()
    with pytest.raises(DatasetError, match="manifest.json: file not found"):
        audio_folder.read(tmp_path)


def test_split_of_reads_the_lists_then_the_entries(tmp_path):
    write_audio_manifest(tmp_path, PIECES)
    data = audio_folder.read(tmp_path)
    assert audio_folder.split_of(data, "m") == ({"a": "train", "b": "val", "c": "test"}, True)
    data["split"] = {"test": ["a"]}  # the lists win over a piece's own entry
    assert audio_folder.split_of(data, "m")[0] == {"a": "test", "b": "val", "c": "test"}


def test_split_of_audio_without_splits_puts_every_piece_in_train(tmp_path):
    write_audio_manifest(tmp_path, PIECES, split=False)
    data = audio_folder.read(tmp_path)
    assert audio_folder.split_of(data, "m") == ({"a": "train", "b": "train", "c": "train"}, False)


def test_split_of_refusals_name_the_source(tmp_path):
    write_audio_manifest(tmp_path, PIECES)
    data = audio_folder.read(tmp_path)
    data["split"]["val"].append("a")
    with pytest.raises(
        DatasetError,
        match=r"m.json: piece 'a' is in splits 'train' and 'val' \(expected each piece in one",
    ):
        audio_folder.split_of(data, "m.json")
    data["split"] = {"train": ["a"], "holdout": ["b"]}
    with pytest.raises(
        DatasetError,
        match=r"m.json: unknown split names \['holdout'\] \(expected train, val, test\)",
    ):
        audio_folder.split_of(data, "m.json")


def _recordings(folder, files: dict[str, list[str]]):
    """Empty files ``<folder>/<instrument>/<name>`` (from_folders reads names only)."""
    for instrument, names in files.items():
        (folder / instrument).mkdir(parents=True, exist_ok=True)
        for name in names:
            (folder / instrument / name).write_bytes(b"")
    return folder


def test_from_folders_pairs_by_name_and_splits_reproducibly(tmp_path):
    pieces = sorted(f"take{i}" for i in range(12))
    folder = _recordings(
        tmp_path,
        {
            "piano": [f"{p}.wav" for p in pieces] + ["notes.txt", "take0.flac", ".DS_Store"],
            "cello": [f"{p}.wav" for p in pieces] + ["extra.wav"],
            "empty": ["readme.md"],
        },
    )
    with pytest.warns(UserWarning) as caught:
        data = audio_folder.from_folders(folder, seed=3)
    messages = [str(w.message) for w in caught]
    assert any("ignored 3 file(s)" in m and "piano/notes.txt" in m for m in messages)
    assert any("left out 1 piece(s)" in m and "extra (not in piano)" in m for m in messages)
    assert data["instruments"] == ["cello", "piano"] and sorted(data["pieces"]) == pieces
    assert data["split"] == audio_folder.split_pieces(pieces, 3)
    assert [len(data["split"][name]) for name in ("train", "val", "test")] == [10, 1, 1]
    assert all(data["pieces"][p]["split"] == s for s, m in data["split"].items() for p in m)
    assert data["split_made"] == {"rule": "80/10/10 % by piece", "seed": 3}
    assert audio_folder.split_of(data, folder) == (
        {p: data["pieces"][p]["split"] for p in pieces},
        True,
    )
    with pytest.warns(UserWarning):
        assert audio_folder.from_folders(folder, seed=3) == data  # reproducible
    with pytest.warns(UserWarning):
        assert audio_folder.from_folders(folder, seed=4)["split"] != data["split"]


def test_from_folders_refusals(tmp_path):
    with pytest.raises(DatasetError, match="no manifest.json and no instrument folders of .wav"):
        audio_folder.from_folders(_recordings(tmp_path / "none", {"a": ["x.flac"]}))
    disjoint = _recordings(tmp_path / "disjoint", {"piano": ["a.wav"], "cello": ["b.wav"]})
    with pytest.raises(DatasetError, match="folders cello, piano share no piece name"):
        audio_folder.from_folders(disjoint)
    escaping = _recordings(tmp_path / "escaping", {"piano": ["a\\b.wav"], "cello": ["a.wav"]})
    with pytest.raises(DatasetError, match=r"piece name 'a\\\\b' is not a plain file name"):
        audio_folder.from_folders(escaping)
    with pytest.raises(ConfigError, match="seed=-1 must be a non-negative integer"):
        audio_folder.from_folders(disjoint, seed=-1)
