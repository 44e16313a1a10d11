"""Plain helpers shared by the tests: signals, tiny inputs written in tmp folders, stand-ins.

Fixtures live in ``conftest.py``; these are ordinary functions and constants,
imported as ``from helpers import ...`` (pytest puts ``tests/`` on ``sys.path``
when it loads ``tests/conftest.py``). Every manifest is written through the
module that owns its format (:mod:`timbre.formats.audio_folder`,
:mod:`timbre.formats.feature_store`, :mod:`timbre.formats.model_dir`), never by hand.
Keras is imported only by the helpers that need it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from timbre.formats import audio_folder, feature_store
from timbre.formats.model_dir import ModelDir
from timbre.io import audio
from timbre.settings import FeatureConfig, ModelConfig, SpectrogramConfig

SMALL_SPEC = SpectrogramConfig(
    sample_rate=16000, n_fft=256, hop_length=128, n_bins=32, tile_frames=32
)  # fast model tests: 16 kHz, 32 bins x 32-frame tiles
TINY_MODEL = ModelConfig(base_filters=4, depth=5)  # fits SMALL_SPEC's 32 x 32 tiles
FEATURE_INSTRUMENTS = ("keyboard_acoustic", "string_acoustic")  # origin, target
NSYNTH_PITCHES = (57, 60, 64, 69)
NSYNTH_VELOCITIES = (50, 100)


def sine(freq_hz: float, seconds: float, sample_rate: int, amplitude: float = 0.5) -> np.ndarray:
    """A float32 sine of ``seconds`` at ``sample_rate``."""
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    return (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


# --- MIDI and note banks -------------------------------------------------------------------


def write_midi(path: Path, notes, drums=(), pedal=()) -> Path:
    """Write a MIDI file of ``notes``, ``drums`` and ``pedal`` to ``path``.

    ``notes``/``drums``: (start, end, pitch, velocity); ``pedal``: (down, up) on the piano track.
    """
    import pretty_midi

    score = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    piano.notes = [pretty_midi.Note(velocity=v, pitch=p, start=s, end=e) for s, e, p, v in notes]
    for down, up in pedal:
        piano.control_changes += [
            pretty_midi.ControlChange(64, 100, down),
            pretty_midi.ControlChange(64, 0, up),
        ]
    score.instruments.append(piano)
    if drums:
        kit = pretty_midi.Instrument(program=0, is_drum=True)
        kit.notes = [pretty_midi.Note(velocity=v, pitch=p, start=s, end=e) for s, e, p, v in drums]
        score.instruments.append(kit)
    path.parent.mkdir(parents=True, exist_ok=True)
    score.write(str(path))
    return path


def write_nsynth_folder(
    folder,
    instruments=("keyboard_acoustic_000", "keyboard_acoustic_003", "string_acoustic_001"),
    pitches=NSYNTH_PITCHES,
    velocities=NSYNTH_VELOCITIES,
    with_json=True,
) -> Path:
    """A tiny NSynth json/wav layout: sines, 16 kHz, 4 s, held 3 s.

    The strings get a 2nd harmonic on top of the sine.
    """
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


# --- The paired-audio folder ----------------------------------------------------------------


def write_audio_manifest(
    folder,
    pieces: Mapping[str, tuple[float, str]],
    instruments: Sequence[str] = FEATURE_INSTRUMENTS,
    sample_rate: int = 16000,
    split: bool = True,
) -> Path:
    """``<folder>/manifest.json`` through :func:`timbre.formats.audio_folder.write`.

    ``pieces`` maps piece -> (seconds, split); ``split=False`` records no split at all
    (as audio from before splits were written). Returns the manifest's path.
    """
    entries = {
        piece: {"midi": f"{piece}.mid", "seconds": seconds, **({"split": part} if split else {})}
        for piece, (seconds, part) in pieces.items()
    }
    lists = {
        name: sorted(p for p, (_, part) in pieces.items() if part == name)
        for name in audio_folder.SPLITS
    }
    header = {
        "synth": {},
        "note_bank": {},
        "sample_rate": sample_rate,
        "instruments": list(instruments),
    }
    return audio_folder.write(folder, header, entries, lists if split else {}, {})


def write_audio_folder(
    folder,
    pieces: Mapping[str, tuple[float, str]],
    instruments: Sequence[str] = FEATURE_INSTRUMENTS,
    sample_rate: int = 16000,
    seed: int = 0,
    split: bool = True,
) -> Path:
    """``<folder>/<instrument>/<piece>.wav`` + ``manifest.json``, as synthesize_audios.py writes.

    ``pieces`` maps piece -> (seconds, split). All instruments of a piece share
    one random on/off envelope (0.1 s steps) under different sines plus a little
    noise, so their spectrograms line up in time. ``split=False`` writes no split.
    """
    folder, rng = Path(folder), np.random.default_rng(seed)
    for number, (piece, (seconds, _)) in enumerate(sorted(pieces.items())):
        n = int(round(seconds * sample_rate))
        steps = rng.integers(0, 2, n // (sample_rate // 10) + 1).astype(np.float32)
        envelope = np.repeat(steps, sample_rate // 10)[:n]
        for k, instrument in enumerate(instruments):
            tone = sine(200.0 * (k + 1) + 10.0 * number, seconds, sample_rate)[:n] * envelope
            audio.save(
                audio_folder.piece_path(folder, instrument, piece),
                tone + 0.01 * rng.standard_normal(n).astype(np.float32),
                sample_rate,
            )
    write_audio_manifest(folder, pieces, instruments, sample_rate, split)
    return folder


# --- The feature store ----------------------------------------------------------------------


def write_features_manifest(
    folder,
    spectrogram: SpectrogramConfig,
    pieces: Mapping[str, Mapping[str, Any]],
    instruments: Sequence[str] = FEATURE_INSTRUMENTS,
    *,
    audios_path=None,
    features: FeatureConfig | None = None,
    split_given: bool = True,
    complete: bool = True,
) -> Path:
    """``<folder>/manifest.json`` through :func:`~timbre.formats.feature_store.write_manifest`.

    ``pieces`` maps piece -> its entry (at least ``n_tiles`` and ``split``); the split
    lists are derived from the entries. No tile files are written.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    header = {
        "spectrogram": spectrogram.to_dict(),
        "features": (features or FeatureConfig()).to_dict(),
        "audios_path": None if audios_path is None else str(audios_path),
        "instruments": list(instruments),
        "split_given": split_given,
    }
    feature_store.write_manifest(
        folder, header, {p: dict(e) for p, e in pieces.items()}, {}, complete
    )
    return folder


def write_feature_store(
    folder,
    pieces: Mapping[str, tuple[int, str]],
    config: SpectrogramConfig,
    instruments: Sequence[str] = FEATURE_INSTRUMENTS,
    fill: Callable[[str, str, int], np.ndarray] | None = None,
    peaks: Mapping[str, Mapping[str, list[float]]] | None = None,
    features: FeatureConfig | None = None,
    n_frames: Mapping[str, int] | None = None,
) -> Path:
    """A tile store as compute_features.py writes it, without audio.

    Fast: the tiles go through ``np.save`` straight away.

    ``pieces`` maps piece -> (n_tiles, split); ``fill(instrument, piece, n_tiles)``
    returns the float16 tiles (default: tile ``i`` of piece number ``p`` holds
    the constant ``(p * 100 + i) / 10_000``); ``peaks`` maps piece -> {instrument: [dB per tile]};
    ``n_frames`` maps piece -> its frame count (default ``n_tiles * tile_frames``).
    """
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
            path = feature_store.tile_path(folder, instrument, piece)
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, np.asarray(tiles, dtype=np.float16))
        entries[piece] = {
            "n_tiles": n_tiles,
            "split": split,
            "seconds": 1.0,
            "n_frames": (n_frames or {}).get(piece, n_tiles * config.tile_frames),
        }
        if peaks and piece in peaks:
            entries[piece]["peak_db"] = peaks[piece]
    return write_features_manifest(folder, config, entries, instruments, features=features)


# --- Models ---------------------------------------------------------------------------------


def identity_generator(config: SpectrogramConfig):
    """A Keras generator that returns its input tiles: conversion must give back the input."""
    import keras

    inputs = keras.Input((config.n_bins, config.tile_frames, 1))
    return keras.Model(inputs, keras.layers.Identity()(inputs), name="generator")


def write_model_dir(
    folder,
    spectrogram: SpectrogramConfig,
    generator=None,
    origin: str | None = FEATURE_INSTRUMENTS[0],
    target: str | None = FEATURE_INSTRUMENTS[1],
) -> Path:
    """A model directory through :class:`timbre.formats.model_dir.ModelDir`; returns ``folder``.

    ``config.json`` as training writes it (``origin``/``target`` left out when None);
    ``generator.keras`` is ``generator`` saved, or a placeholder file when None
    (enough for code that only checks the model's files before loading).
    """
    files = ModelDir(Path(folder))
    files.path.mkdir(parents=True, exist_ok=True)
    config = {
        "version": 1,
        "mode": "generator",
        **({"origin": origin} if origin is not None else {}),
        **({"target": target} if target is not None else {}),
        "features_path": "",
        "spectrogram": spectrogram.to_dict(),
        "model": {},
        "train": {},
    }
    files.write_config(config)
    if generator is None:
        files.generator.write_text("placeholder: only its presence is checked before loading")
    else:
        generator.save(files.generator)
    return files.path
