"""timbre.data.own: pairs from a user's own recordings, aligned by their transcription."""

from __future__ import annotations

import numpy as np
import pytest

from timbre.data import notebank
from timbre.data.features import compute_features
from timbre.data.fluid import PieceSynthesizer
from timbre.data.midi import Score
from timbre.data.own import OwnPairsConfig, pairs_from_recordings, split_recordings
from timbre.data.transcribe import Transcriber
from timbre.errors import ConfigError, DatasetError
from timbre.formats import audio_folder
from timbre.io import audio
from timbre.settings import SpectrogramConfig, SynthConfig

RATE = 16000
SYNTH = SynthConfig(sample_rate=RATE)
STRINGS = {"string_acoustic": [(notebank.default_soundfont(), 48)]}
CONFIG = OwnPairsConfig(segment_seconds=3.0, held_out_share=0.34)


def _take(seed: int) -> np.ndarray:
    """Eight seconds of a "recorded" piano: 16 notes by FluidSynth's piano at 22.05 kHz."""
    rng = np.random.default_rng(seed)
    notes = [(0.5 * i, 0.5 * i + 0.4, int(rng.integers(55, 76)), 100) for i in range(16)]
    score = Score.from_notes(notes)
    return PieceSynthesizer(notebank.default_soundfont(), 0, SynthConfig(sample_rate=22050)).render(
        score
    )


def _pairs(root, transcriber):
    """The pairs of ``<root>/my_piano`` into ``<root>/audios``."""
    return pairs_from_recordings(
        root / "my_piano",
        root / "audios",
        "keyboard_acoustic",
        STRINGS,
        SYNTH,
        CONFIG,
        transcriber,
        progress=False,
    )


@pytest.fixture(scope="module")
def transcriber():
    return Transcriber()


@pytest.fixture(scope="module")
def own(tmp_path_factory, transcriber):
    root = tmp_path_factory.mktemp("own")
    for k in range(3):
        audio.save(root / "my_piano" / f"take{k}.wav", 0.3 * _take(k), 22050)
    manifest = _pairs(root, transcriber)
    return root, manifest


def test_recordings_become_aligned_pairs_split_by_recording(own):
    root, manifest = own
    data = audio_folder.read(root / "audios")
    assert manifest == audio_folder.manifest_path(root / "audios")
    assert data["instruments"] == ["keyboard_acoustic", "string_acoustic"]
    assert sorted(data["pieces"]) == [f"take{k}__{s:04d}" for k in range(3) for s in range(3)]
    splits = {}
    for piece, entry in data["pieces"].items():
        splits.setdefault(piece.split("__")[0], set()).add(entry["split"])
        mine, strings = (
            audio.load(audio_folder.piece_path(root / "audios", name, piece))
            for name in data["instruments"]
        )
        assert mine[1] == strings[1] == RATE and len(mine[0]) == len(strings[0])
        assert len(mine[0]) == pytest.approx(entry["seconds"] * RATE)
        assert np.max(np.abs(mine[0])) == pytest.approx(10 ** (-SYNTH.headroom_db / 20), rel=1e-3)
        assert np.max(np.abs(strings[0])) > 0.1  # the transcription played
    assert all(len(s) == 1 for s in splits.values())  # a recording's segments stay together
    assert sorted(s.pop() for s in splits.values()) == ["test", "train", "val"]


def test_the_rendering_follows_the_recording_in_time(own):
    """Onsets line up: the rendered strings' energy rises where the recording's notes start."""
    root, _ = own
    piece = "take0__0001"
    mine, strings = (
        audio.load(audio_folder.piece_path(root / "audios", name, piece))[0]
        for name in ("keyboard_acoustic", "string_acoustic")
    )

    def envelope(x):
        frames = x[: len(x) // 160 * 160].reshape(-1, 160)  # 10 ms
        return np.sqrt(np.mean(frames**2, axis=1))

    a, b = envelope(mine), envelope(strings)
    lags = range(-10, 11)
    best = max(lags, key=lambda lag: np.corrcoef(np.roll(a, lag), b)[0, 1])
    assert abs(best) <= 5  # within 50 ms


def test_a_rerun_keeps_what_is_there(own, tmp_path):
    root, manifest = own
    before = {p: p.stat().st_mtime_ns for p in (root / "audios").rglob("*.wav")}

    class Refuses:
        def file(self, path):
            raise AssertionError(f"{path} transcribed again")

    _pairs(root, Refuses())
    assert {p: p.stat().st_mtime_ns for p in (root / "audios").rglob("*.wav")} == before


def test_the_pairs_become_features(own, tmp_path):
    root, _ = own
    spectrogram = SpectrogramConfig(
        sample_rate=RATE, n_fft=256, hop_length=128, n_bins=32, tile_frames=32
    )
    summary = compute_features(
        root / "audios", tmp_path / "features", spectrogram=spectrogram, progress=False
    )
    assert not summary.failed and len(summary.computed) == 9 and summary.n_tiles > 0


def test_split_recordings_and_errors(tmp_path, transcriber):
    assert split_recordings(["a"], 0.2, 0) == {"a": "train"}
    assert sorted(split_recordings(["a", "b"], 0.2, 0).values()) == ["test", "train"]
    five = split_recordings(list("abcde"), 0.4, 0)
    assert sorted(five.values()) == ["test", "test", "train", "train", "val"]
    assert split_recordings(list("abcde"), 0.4, 0) == five
    with pytest.raises(ConfigError, match="players"):
        pairs_from_recordings(tmp_path, tmp_path / "a", "keyboard_acoustic", {}, SYNTH)
    with pytest.raises(ConfigError, match="segment_seconds"):
        OwnPairsConfig(segment_seconds=1.0)
    (tmp_path / "none").mkdir()
    with pytest.raises(DatasetError, match="no audio files"):
        pairs_from_recordings(
            tmp_path / "none",
            tmp_path / "a",
            "keyboard_acoustic",
            STRINGS,
            SYNTH,
            transcriber=transcriber,
            progress=False,
        )
