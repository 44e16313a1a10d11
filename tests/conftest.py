"""Shared fixtures: a seeded rng, a sine helper, small spectrogram settings."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np
import pytest

from timbre.config import SpectrogramConfig


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def sine(freq_hz: float, seconds: float, sample_rate: int, amplitude: float = 0.5) -> np.ndarray:
    """A float32 sine of ``seconds`` at ``sample_rate``."""
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    return (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


@pytest.fixture
def spec_config() -> SpectrogramConfig:
    """The default spectrogram settings."""
    return SpectrogramConfig()


@pytest.fixture
def small_spec_config() -> SpectrogramConfig:
    """Small settings for fast model tests: 16 kHz, 32 bins x 32-frame tiles."""
    return SpectrogramConfig(
        sample_rate=16000, n_fft=256, hop_length=128, n_bins=32, tile_frames=32
    )


# --- synthesis fixtures (issue 3): tiny note banks made in tmp folders -------------------

NSYNTH_PITCHES = (57, 60, 64, 69)
NSYNTH_VELOCITIES = (50, 100)


def write_nsynth_folder(
    folder,
    instruments=("keyboard_acoustic_000", "keyboard_acoustic_003", "string_acoustic_001"),
    pitches=NSYNTH_PITCHES,
    velocities=NSYNTH_VELOCITIES,
    with_json=True,
):
    """A tiny NSynth json/wav layout: sines, 16 kHz, 4 s, held 3 s.

    The strings get a 2nd harmonic on top of the sine.
    """
    import json
    from pathlib import Path

    from timbre import audio

    folder = Path(folder)
    envelope = np.minimum(1.0, np.maximum(0.0, (4.0 - np.arange(64000) / 16000) / 1.0)).astype(
        np.float32
    )
    examples = {}
    for instrument in instruments:
        for pitch in pitches:
            for velocity in velocities:
                freq = 440.0 * 2 ** ((pitch - 69) / 12)
                tone = sine(freq, 4.0, 16000, 0.8 * velocity / 127)
                if instrument.startswith("string"):
                    tone = tone + sine(2 * freq, 4.0, 16000, 0.3 * velocity / 127)
                note_str = f"{instrument}-{pitch:03d}-{velocity:03d}"
                audio.save(folder / "audio" / f"{note_str}.wav", tone * envelope, 16000)
                family, source = instrument.rsplit("_", 1)[0].rsplit("_", 1)
                examples[note_str] = {
                    "note": len(examples),
                    "note_str": note_str,
                    "instrument": int(instrument[-3:]),
                    "instrument_str": instrument,
                    "pitch": pitch,
                    "velocity": velocity,
                    "sample_rate": 16000,
                    "instrument_family_str": family,
                    "instrument_source_str": source,
                    "qualities": [0] * 10,
                }
    if with_json:
        (folder / "examples.json").write_text(json.dumps(examples))
    return folder


@pytest.fixture(scope="session")
def nsynth_folder(tmp_path_factory):
    """A session-wide tiny NSynth folder (treat as read-only)."""
    return write_nsynth_folder(tmp_path_factory.mktemp("nsynth"))


@pytest.fixture(scope="session")
def soundfont_banks(tmp_path_factory):
    """keyboard_acoustic and string_acoustic rendered from the bundled SoundFont.

    Pitches 57, 60 and 69 only.
    """
    from timbre.synthesis.notebank import prepare_soundfont_bank

    return prepare_soundfont_bank(
        tmp_path_factory.mktemp("sf_bank"),
        ["keyboard_acoustic", "string_acoustic"],
        progress=False,
        pitches=(57, 60, 69),
    )


# --- feature-store fixtures (issue 4): paired audio folders and hand-written tile stores -----

FEATURE_INSTRUMENTS = ("keyboard_acoustic", "string_acoustic")


def write_audio_folder(
    folder, pieces, instruments=FEATURE_INSTRUMENTS, sample_rate=16000, seed=0, split=True
):
    """``<folder>/<instrument>/<piece>.wav`` + ``manifest.json``, as synthesize_audios.py writes.

    ``pieces`` maps piece -> (seconds, split). All instruments of a piece share
    one random on/off envelope (0.1 s steps) under different sines plus a little
    noise, so their spectrograms line up in time. ``split=False`` writes no split.
    """
    from pathlib import Path

    from timbre import audio
    from timbre.fileio import write_json

    folder, rng = Path(folder), np.random.default_rng(seed)
    for number, (piece, (seconds, _)) in enumerate(sorted(pieces.items())):
        n = int(round(seconds * sample_rate))
        steps = rng.integers(0, 2, n // (sample_rate // 10) + 1).astype(np.float32)
        envelope = np.repeat(steps, sample_rate // 10)[:n]
        for k, instrument in enumerate(instruments):
            tone = sine(200.0 * (k + 1) + 10.0 * number, seconds, sample_rate)[:n] * envelope
            audio.save(
                folder / instrument / f"{piece}.wav",
                tone + 0.01 * rng.standard_normal(n).astype(np.float32),
                sample_rate,
            )
    entries = {
        p: {"midi": f"{p}.mid", "seconds": s, **({"split": part} if split else {})}
        for p, (s, part) in pieces.items()
    }
    manifest = {
        "version": 1,
        "synth": {},
        "note_bank": {},
        "sample_rate": sample_rate,
        "instruments": list(instruments),
        "pieces": entries,
        "failed": {},
    }
    if split:
        manifest["split"] = {
            name: sorted(p for p, (_, part) in pieces.items() if part == name)
            for name in ("train", "val", "test")
        }
    write_json(folder / "manifest.json", manifest)
    return folder


def write_feature_store(
    folder, pieces, config, instruments=FEATURE_INSTRUMENTS, fill=None, peaks=None, features=None
):
    """A tile store as compute_features.py writes it, without audio.

    Fast: the tiles go through ``np.save`` straight away.

    ``pieces`` maps piece -> (n_tiles, split); ``fill(instrument, piece, n_tiles)``
    returns the float16 tiles (default: tile ``i`` of piece number ``p`` holds
    the constant ``(p * 100 + i) / 10_000``); ``peaks`` maps piece -> {instrument: [dB per tile]}.
    """
    from pathlib import Path

    from timbre.fileio import write_json

    folder = Path(folder)
    entries = {}
    for number, (piece, (n_tiles, split)) in enumerate(sorted(pieces.items())):
        for instrument in instruments:
            if fill is None:
                codes = (number * 100 + np.arange(n_tiles)) / 10_000
                tiles = np.broadcast_to(
                    codes[:, None, None], (n_tiles, config.n_bins, config.tile_frames)
                )
            else:
                tiles = fill(instrument, piece, n_tiles)
            (folder / instrument).mkdir(parents=True, exist_ok=True)
            np.save(folder / instrument / f"{piece}.npy", np.asarray(tiles, dtype=np.float16))
        entries[piece] = {
            "n_tiles": n_tiles,
            "split": split,
            "seconds": 1.0,
            "n_frames": n_tiles * config.tile_frames,
        }
        if peaks and piece in peaks:
            entries[piece]["peak_db"] = peaks[piece]
    split = {
        name: sorted(p for p, (_, sp) in pieces.items() if sp == name)
        for name in ("train", "val", "test")
    }
    write_json(
        folder / "manifest.json",
        {
            "version": 1,
            "spectrogram": config.to_dict(),
            "features": (features or {}),
            "audios_path": None,
            "instruments": list(instruments),
            "pieces": entries,
            "split": split,
        },
    )
    return folder
