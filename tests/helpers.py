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
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import keras

from timbre.dsp.stft import log_spectrogram
from timbre.dsp.tiling import tile
from timbre.formats import audio_folder, feature_store
from timbre.formats.model_dir import ModelDir
from timbre.io import audio
from timbre.io.atomic import save_npy
from timbre.settings import FeatureConfig, ModelConfig, SpectrogramConfig, TrainConfig

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


# --- Conversion and training fixtures shared by several test modules.

SMALL = SpectrogramConfig(sample_rate=16000, n_fft=256, hop_length=128, n_bins=32, tile_frames=32)
FAST = TrainConfig(batch_size=4, epochs=2, steps_per_epoch=3, seed=3)
SPLIT = {"train": ["p0", "p1", "p2", "p3"], "val": ["p4"], "test": ["p5"]}
INSTRUMENTS = {"keys": 1.0, "strings": 0.3}  # instrument -> amplitude of the second harmonic


def conv_generator(config: SpectrogramConfig, seed: int = 0, offset: float = 0.0) -> keras.Model:
    """A random 3x3 convolution (its tile edges see zero padding, so overlapping tiles differ)."""
    import keras

    keras.utils.set_random_seed(seed)
    x = keras.Input((config.n_bins, config.tile_frames, 1))
    y = keras.layers.Conv2D(1, 3, padding="same", activation="tanh")(x)
    return keras.Model(x, keras.layers.Rescaling(1.0, offset=offset)(y))


def residual_generator(
    config: SpectrogramConfig, kind: str = "conv", seed: int = 0, depth: float = 0.3
) -> keras.Model:
    """The input plus ``depth`` times a random network: a 3x3 convolution (``"conv"``) or the
    real U-Net, tiny (4 filters, depth 5) with its kernels scaled by 6 (``"unet"``; at its
    N(0, 0.02) init it outputs ~0 whatever the input).

    Like a trained model it keeps silence near silence and changes each bin by an amount that
    depends on the bin's neighbourhood and level (the U-Net with its own tile-edge effects):
    what made the inverse STFT's last samples blow up, and what level matching must undo.
    """
    import keras

    keras.utils.set_random_seed(seed)
    x = keras.Input((config.n_bins, config.tile_frames, 1))
    if kind == "conv":
        change = keras.layers.Conv2D(1, 3, padding="same", activation="tanh")(x)
    else:
        from timbre.tf.networks import build_generator

        unet = build_generator(
            ModelConfig(base_filters=4, depth=5), config.n_bins, config.tile_frames
        )
        unet.set_weights([w * 6.0 if w.ndim == 4 else w for w in unet.get_weights()])
        change = unet(x)
    return keras.Model(x, keras.layers.Add()([x, keras.layers.Rescaling(depth)(change)]))


def write_model(directory, generator: keras.Model, config: SpectrogramConfig, **extra):
    """A model directory: ``config.json`` (with ``extra`` keys) and ``generator.keras``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(
        json.dumps({"version": 1, "mode": "generator", "spectrogram": config.to_dict(), **extra})
    )
    generator.save(directory / "generator.keras")
    return directory


def melody(seconds: float, sample_rate: int, seed: int = 0) -> np.ndarray:
    """Notes of random pitch (220-880 Hz) and length (0.1-0.6 s), each with a decaying envelope."""
    rng = np.random.default_rng(seed)
    parts, total = [], int(round(seconds * sample_rate))
    while sum(map(len, parts)) < total:
        note = sine(
            rng.uniform(220, 880), rng.uniform(0.1, 0.6), sample_rate, rng.uniform(0.1, 0.5)
        )
        parts.append(note * np.exp(-np.arange(len(note)) / (0.3 * sample_rate)).astype(np.float32))
    return np.concatenate(parts)[:total]


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a - b) ** 2)) / np.sqrt(np.mean(b**2)))


def make_features(
    root: Path,
    spec: SpectrogramConfig = SMALL_SPEC,
    split: dict | None = None,
    split_given: bool = True,
) -> Path:
    """Paired audio and its tiles + manifest per the features contract, under root."""
    split = SPLIT if split is None else split
    features, audios = root / "features", root / "audios"
    pieces = {}
    for number, piece in enumerate(p for members in split.values() for p in members):
        base = 220.0 * 2 ** (number / 12)
        for name, harmonic in INSTRUMENTS.items():
            wave = sine(base, 1.0, spec.sample_rate, 0.4) + sine(
                2 * base, 1.0, spec.sample_rate, 0.2 * harmonic
            )
            audio.save(audios / name / f"{piece}.wav", wave, spec.sample_rate)
            tiles = tile(log_spectrogram(wave, spec)[0], spec.tile_frames)
            save_npy(features / name / f"{piece}.npy", tiles.astype(np.float16))
        pieces[piece] = {
            "n_tiles": len(tiles),
            "split": next(s for s, m in split.items() if piece in m),
        }
    return write_features_manifest(
        features, spec, pieces, list(INSTRUMENTS), audios_path=audios, split_given=split_given
    )


def excerpt(n_samples: int, sample_rate: int, seed: int = 0) -> np.ndarray:
    """``n_samples`` cut from a steady tone (three partials with vibrato, constant level, a DC
    offset): it starts and ends mid-note at full level, abrupt at both ends (no fade, no silence).
    """
    start = np.random.default_rng(seed).integers(sample_rate // 7, sample_rate // 3)
    t = (start + np.arange(n_samples)) / sample_rate
    pitch = 2 * np.pi * (330 * t + 10 * np.sin(2 * np.pi * 5.5 * t))
    tone = sum(np.sin(k * pitch) / k for k in (1, 2, 3))
    return (0.3 * tone + 0.05).astype(np.float32)


def edge_ratio(out: np.ndarray, sample_rate: int) -> float:
    """Peak of the first and last 100 ms over the peak of the rest."""
    edge = int(0.1 * sample_rate)
    ends = max(np.max(np.abs(out[:edge])), np.max(np.abs(out[-edge:])))
    return float(ends / np.max(np.abs(out[edge:-edge])))


class TileFunction:
    """A Generator without a model (no TensorFlow, no runtime): ``function`` on NumPy tiles.

    The default is the identity; ``lambda tiles: tiles - 0.1`` makes every bin ~5 dB quieter
    and keeps silence silent, like a model whose target instrument is quieter than its origin.
    """

    backend, precision = "onnx", "float32"

    def __init__(self, config: SpectrogramConfig, function: Callable | None = None) -> None:
        self.tile_shape = (config.n_bins, config.tile_frames)
        self.function = function or (lambda tiles: tiles)

    def __call__(self, tiles: np.ndarray) -> np.ndarray:
        return np.clip(self.function(tiles), -1.0, 1.0).astype(np.float32)


def quiet_excerpt(seconds: float, sample_rate: int, level_db: float = -35.0, seed: int = 0):
    """A quiet recording as they come: decaying harmonic notes (110-880 Hz) at an active level
    of ``level_db`` (dsp.level.active_level_db), long silences (3-6 s) between some of them,
    and one loud transient (a 5 ms click at 0.9 of full scale, ~35 dB above the notes).
    """
    from timbre.dsp.level import active_level_db

    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * sample_rate), dtype=np.float32)
    start = 0.5
    while start < seconds - 1:
        if rng.random() < 0.25:
            start += rng.uniform(3, 6)  # a long silence
            continue
        length, pitch = rng.uniform(0.3, 1.2), 110 * 2 ** (rng.integers(0, 36) / 12)
        t = np.arange(int(length * sample_rate)) / sample_rate
        partials = (k for k in range(1, 8) if k * pitch < sample_rate / 2.5)
        note = sum(np.sin(2 * np.pi * k * pitch * t) / k**1.5 for k in partials)
        note = note * np.exp(-t / 0.5) * np.minimum(1, t / 0.005)
        first = int(start * sample_rate)
        out[first : first + len(note)] += note[: len(out) - first]
        start += length * rng.uniform(0.6, 1.0)
    out *= 10 ** ((level_db - active_level_db(out, sample_rate)) / 20)
    click = int(0.37 * len(out))
    width = int(0.005 * sample_rate)
    out[click : click + width] = 0.9 * np.sign(np.sin(np.arange(width) + 0.5))
    return out
