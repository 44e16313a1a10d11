"""The test pieces of an evaluation: origin and target recordings in pairs, and the conditions
they are scored in.

Pairs come from the test split of a features manifest (:func:`split_pairs`) or
from two folders of aligned audio with the same file names (:func:`folder_pairs`).
:func:`load_pair` reads one pair at the model's sample rate; :func:`as_recording`
turns it into an excerpt as a recording arrives (the ``excerpt`` condition),
:func:`as_recorded` plays its origin through a simulated recording (``recorded``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import warnings
from pathlib import Path

import numpy as np

from timbre.data import recorded
from timbre.errors import DatasetError
from timbre.evaluate.config import EvalConfig
from timbre.formats.feature_store import load_manifest
from timbre.io import audio

EXCERPT_START = (0.1, 0.4)  # excerpt: the cut-in point, as a share of the piece's length
EXCERPT_END = (0.6, 0.9)  # ... and the cut-out point


@dataclasses.dataclass(frozen=True)
class Pair:
    """One piece: the origin recording and the aligned target recording."""

    name: str
    origin: Path
    target: Path


def split_pairs(
    features_path: str | os.PathLike, origin: str, target: str, max_pieces: int | None = None
) -> list[Pair]:
    """The test-split pieces of a features folder, as (origin, target) audio pairs.

    Args:
        features_path: folder holding the feature store (compute_features.py).
        origin, target: instruments the model converts between.
        max_pieces: keep the first N pieces (sorted by name).

    Raises:
        DatasetError: missing folder or manifest, an instrument the features lack,
            an empty test split, a missing audio folder or audio file.
    """
    folder = Path(features_path)
    if not folder.is_dir():
        raise DatasetError(
            f"features: {folder} not found (expected the folder compute_features.py wrote)"
        )
    manifest = load_manifest(folder)
    for role, name in (("origin", origin), ("target", target)):
        if name not in manifest.instruments:
            raise DatasetError(
                f"features {folder}: no instrument {name!r}, the model's {role} "
                f"(features hold {list(manifest.instruments)}; the model converts "
                f"{origin} -> {target})"
            )
    pieces = sorted(manifest.split.get("test", []))
    if not pieces:
        raise DatasetError(
            f"features {folder}: the test split is empty ({manifest.split_counts()} pieces) "
            "(expected at least one test piece); or use --origin_dir/--target_dir"
        )
    if manifest.audios_path is None or not manifest.audios_path.is_dir():
        raise DatasetError(
            f"features {folder}: audios_path {manifest.audios_path} not found (expected the "
            "audio folder the features were computed from)"
        )
    pieces = pieces[:max_pieces] if max_pieces else pieces
    pairs = [
        Pair(piece, manifest.audio_path(origin, piece), manifest.audio_path(target, piece))
        for piece in pieces
    ]
    missing = [
        str(path) for pair in pairs for path in (pair.origin, pair.target) if not path.is_file()
    ]
    if missing:
        raise DatasetError(
            f"features {folder}: {len(missing)} audio files of the test pieces are missing "
            f"(e.g. {missing[0]}); was the audio folder moved or cleaned?"
        )
    return pairs


def folder_pairs(
    origin_dir: str | os.PathLike, target_dir: str | os.PathLike, max_pieces: int | None = None
) -> list[Pair]:
    """Pairs of audio files with the same name in two folders (files in one folder only are skipped,
    with a warning).

    Raises:
        DatasetError: a folder is missing, or the folders share no audio file name.
    """
    folders = {"origin_dir": Path(origin_dir), "target_dir": Path(target_dir)}
    for role, folder in folders.items():
        if not folder.is_dir():
            raise DatasetError(f"{role}: {folder} not found (expected a folder of audio files)")
    names = {
        role: {p.name for p in folder.iterdir() if audio.is_audio_file(p)}
        for role, folder in folders.items()
    }
    common = sorted(names["origin_dir"] & names["target_dir"])
    if not common:
        raise DatasetError(
            f"origin_dir {folders['origin_dir']} and target_dir {folders['target_dir']} share no "
            "audio file name (expected aligned recordings with the same names)"
        )
    unmatched = sorted(names["origin_dir"] ^ names["target_dir"])
    if unmatched:
        warnings.warn(
            f"{len(unmatched)} audio files have no partner of the same name and are skipped "
            f"(e.g. {unmatched[0]})",
            stacklevel=2,
        )
    common = common[:max_pieces] if max_pieces else common
    return [
        Pair(Path(name).stem, folders["origin_dir"] / name, folders["target_dir"] / name)
        for name in common
    ]


def load_pair(
    pair: Pair, sample_rate: int, max_seconds: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Origin and target audio at ``sample_rate``, trimmed to a common length (and ``max_seconds``).

    Lengths that differ warn and are cut to the shorter (aligned pairs have equal lengths).
    """
    origin, _ = audio.load(pair.origin, sample_rate)
    target, _ = audio.load(pair.target, sample_rate)
    if len(origin) != len(target):
        warnings.warn(
            f"{pair.name}: origin has {len(origin)} samples, target {len(target)}; "
            "compared over the shorter",
            stacklevel=2,
        )
    length = min(len(origin), len(target))
    if max_seconds is not None:
        length = min(length, max(int(round(max_seconds * sample_rate)), 1))
    return origin[:length], target[:length]


def as_recording(
    origin: np.ndarray, target: np.ndarray, name: str, config: EvalConfig
) -> tuple[np.ndarray, np.ndarray]:
    """The pair as a recording arrives: cut mid-piece at both ends, the input at a random level.

    Cut points are drawn in :data:`EXCERPT_START` and :data:`EXCERPT_END` of the
    length (so the excerpt starts and ends wherever the music happens to be,
    mid-note as a rule); the origin is scaled to a peak drawn in
    ``config.excerpt_peak_db``. Both are drawn from ``config.seed`` and the
    piece's name. The target is cut alike and keeps its level.
    """
    digest = int(hashlib.sha1(name.encode()).hexdigest()[:12], 16)
    rng = np.random.default_rng([config.seed, digest])
    n = len(origin)
    start, end = int(rng.uniform(*EXCERPT_START) * n), int(rng.uniform(*EXCERPT_END) * n)
    peak_db = rng.uniform(*config.excerpt_peak_db)
    origin = origin[start:end]
    peak = float(np.max(np.abs(origin))) if origin.size else 0.0
    if peak > 0.0:
        origin = (origin * (10 ** (peak_db / 20) / peak)).astype(np.float32)
    return origin, target[start:end]


def as_recorded(
    origin: np.ndarray, target: np.ndarray, name: str, config: EvalConfig, sample_rate: int
) -> tuple[np.ndarray, np.ndarray, dict]:
    """The pair with its origin recorded: a room, a microphone, noise, a band limit and lossy
    coding (:mod:`timbre.data.recorded`), drawn in ``config.recording`` from ``config.seed``
    and the piece's name. The origin keeps its length and stays aligned with the target,
    which is left as it is (the model must still produce the clean target sound).

    Returns:
        ``(recorded origin, target, what the piece got as a dict)``.

    Raises:
        MissingExtraError: pyroomacoustics or pedalboard is not installed.
    """
    audio_in, recording = recorded.record(origin, sample_rate, name, config.seed, config.recording)
    return audio_in, target, recording.to_dict()
