"""Notes in a recording: basic-pitch's polyphonic transcription model, on ONNX Runtime.

basic-pitch (Spotify, Apache-2.0) ships its model inside its package
(``saved_models/icassp_2022/nmp.onnx``, 230 kB): nothing is downloaded. Its
package imports every backend it finds at import time, TensorFlow included;
:func:`_basic_pitch` hides TensorFlow, Core ML and TFLite from that import (where
they are not already loaded) so transcription costs ONNX Runtime alone, and
silences the warnings it logs about the backends it did not find.

A file is transcribed in chunks of ``chunk_seconds`` (bounded memory whatever its
length); a note held across a chunk boundary comes back as two notes.
:func:`transcribe_folder` writes a folder of recordings' transcriptions as MIDI files,
which the renderers play like any other (``synthesize_audios.py --midi_path``).

``pip install 'timbre[transcribe]'`` installs what basic-pitch imports, and
``pip install --no-deps basic-pitch==0.4.0`` basic-pitch itself (``make setup``
does both): its own requirements pin TensorFlow below 2.15.1 for the backend timbre
does not use.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from timbre.data import midi
from timbre.data.midi import Score
from timbre.errors import DatasetError, MissingExtraError
from timbre.io import audio

SAMPLE_RATE = 22050  # basic-pitch's input rate, Hz
HIDDEN = ("tensorflow", "coremltools", "tflite_runtime")  # backends basic-pitch would import
INSTALL = "then pip install --no-deps basic-pitch==0.4.0"


@dataclasses.dataclass(frozen=True)
class Note:
    """One transcribed note."""

    start_s: float  # onset, seconds from the start of the recording
    end_s: float  # offset, seconds
    pitch: int  # MIDI note number
    velocity: int  # MIDI velocity 1-127, from the model's amplitude


@dataclasses.dataclass(frozen=True)
class TranscribeConfig:
    """basic-pitch's decoding thresholds (its defaults) and the chunk length."""

    onset_threshold: float = 0.5  # onset probability that starts a note
    frame_threshold: float = 0.3  # frame probability that holds it
    minimum_note_ms: float = 127.7  # shorter notes are dropped
    chunk_seconds: float = 120.0  # audio transcribed at once (memory)


class Transcriber:
    """basic-pitch's model, loaded once: ``Transcriber().file(path)`` or ``.samples(x, rate)``.

    Raises:
        MissingExtraError: basic-pitch, ONNX Runtime or librosa is not installed.
    """

    def __init__(self, config: TranscribeConfig = TranscribeConfig()) -> None:
        inference = _basic_pitch()
        self.config = config
        self._inference = inference
        # where TensorFlow is loaded, basic-pitch tries TFLite on the ONNX file first, and
        # TensorFlow warns that tf.lite is deprecated before the try fails
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._model = inference.Model(_model_path())

    def file(self, path: str | os.PathLike) -> list[Note]:
        """The notes of an audio file (any format :mod:`timbre.io.audio` reads), sorted by
        onset.

        Raises:
            AudioError: the file is missing or unreadable.
        """
        return self._transcribe(audio.read_blocks(path, SAMPLE_RATE))

    def samples(self, samples: np.ndarray, sample_rate: int) -> list[Note]:
        """The notes of mono float samples at ``sample_rate`` Hz, sorted by onset."""
        resampled = audio.resample(np.asarray(samples, dtype=np.float32), sample_rate, SAMPLE_RATE)
        return self._transcribe([resampled])

    def _transcribe(self, blocks: Iterable[np.ndarray]) -> list[Note]:
        """The notes of a stream of blocks at :data:`SAMPLE_RATE`, chunk by chunk."""
        chunk = int(self.config.chunk_seconds * SAMPLE_RATE)
        notes: list[Note] = []
        start = 0
        for samples in audio.regroup(blocks, chunk):
            notes += self._chunk(samples, start / SAMPLE_RATE)
            start += len(samples)
        return sorted(notes, key=lambda n: (n.start_s, n.pitch))

    def _chunk(self, samples: np.ndarray, offset_s: float) -> list[Note]:
        """basic-pitch reads a file: the chunk goes through a temporary WAV at its rate."""
        config = self.config
        with tempfile.TemporaryDirectory(prefix="timbre-transcribe-") as folder:
            path = Path(folder) / "chunk.wav"
            audio.save(path, samples, SAMPLE_RATE)
            # it prints "Predicting MIDI ...", and divides 0 by 0 on silence (no notes)
            with contextlib.redirect_stdout(io.StringIO()), np.errstate(invalid="ignore"):
                _, _, events = self._inference.predict(
                    path,
                    self._model,
                    onset_threshold=config.onset_threshold,
                    frame_threshold=config.frame_threshold,
                    minimum_note_length=config.minimum_note_ms,
                )
        return [
            Note(
                float(start) + offset_s,
                float(end) + offset_s,
                int(pitch),
                int(np.clip(round(127 * float(amplitude)), 1, 127)),
            )
            for start, end, pitch, amplitude, _ in events
        ]


def to_score(notes: Sequence[Note]) -> Score:
    """The notes as a :class:`timbre.data.midi.Score` (no pedal: the transcription's notes
    last as long as they sound)."""
    return Score.from_notes([(n.start_s, n.end_s, n.pitch, n.velocity) for n in notes])


def transcribe_folder(
    recordings: str | os.PathLike,
    midi_path: str | os.PathLike,
    transcriber: Transcriber | None = None,
    progress: bool = True,
    *,
    config: TranscribeConfig = TranscribeConfig(),
) -> dict[str, Path]:
    """Transcribe every audio file under ``recordings`` (recursively) into
    ``<midi_path>/<piece>.mid``, pieces named as :func:`timbre.data.midi.piece_names` names
    MIDI files; resumable: a transcription already there is kept (each is written atomically),
    delete it to transcribe its recording again.

    Args:
        recordings: a folder of recordings (any format :mod:`timbre.io.audio` reads), or one.
        midi_path: output folder (created).
        transcriber: the model (default: loaded here, with ``config``).
        progress: show a tqdm progress bar.
        config: the decoding thresholds of the model loaded here.

    Returns:
        ``{piece: MIDI file}`` of the recordings in which notes were found, sorted.

    Raises:
        DatasetError: no audio file under ``recordings``, or no notes in any of them.
        AudioError: a recording is unreadable.

    Warns:
        A recording in which no notes were found (left out).
    """
    from tqdm.auto import tqdm

    out = Path(midi_path)
    found = recordings_in(recordings, out)
    written = {}
    for piece, path in tqdm(found.items(), desc="transcribe", unit="file", disable=not progress):
        target = out / f"{piece}.mid"
        if not target.exists():
            if transcriber is None:  # loaded only when something is left to transcribe
                transcriber = Transcriber(config)
            notes = transcriber.file(path)
            if not notes:
                warnings.warn(f"{path}: no notes found; left out", stacklevel=2)
                continue
            midi.write(target, to_score(notes))
        written[piece] = target
    if not written:
        raise DatasetError(f"{recordings}: no notes found in any of its {len(found)} recordings")
    return dict(sorted(written.items()))


def recordings_in(
    recordings: str | os.PathLike, exclude: str | os.PathLike | None = None
) -> dict[str, Path]:
    """``{piece: audio file}`` of every audio file under ``recordings`` (recursively; or the one
    file it names) but those under ``exclude`` (an output folder inside it), pieces named by
    :func:`timbre.data.midi.piece_names`.

    Raises:
        DatasetError: ``recordings`` does not exist or holds no audio file.
    """
    source = Path(recordings)
    if source.is_file():
        files, root = [source], source.parent
    elif source.is_dir():
        files = [p for p in source.rglob("*") if audio.is_audio_file(p)]
        if exclude is not None:
            files = [p for p in files if not p.is_relative_to(exclude)]
        root = source
    else:
        raise DatasetError(f"{source}: not found (expected a folder of recordings)")
    if not files:
        suffixes = ", ".join(sorted(audio.AUDIO_SUFFIXES))
        raise DatasetError(f"{source}: no audio files (expected recordings: {suffixes})")
    return {piece: path for path, piece in midi.piece_names(files, root).items()}


def to_arrays(notes: Sequence[Note]) -> tuple[np.ndarray, np.ndarray]:
    """``(intervals, pitches)``: shape ``(n, 2)`` onsets and offsets in seconds, and ``(n,)``
    MIDI note numbers (the form note metrics take)."""
    intervals = np.array([(n.start_s, n.end_s) for n in notes], dtype=np.float64).reshape(-1, 2)
    return intervals, np.array([n.pitch for n in notes], dtype=np.int64)


def _basic_pitch():
    """``basic_pitch.inference``, imported without the backends timbre does not use."""
    hidden = [name for name in HIDDEN if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # `import name` raises ImportError while this holds
    logging.disable(logging.WARNING)
    try:
        from basic_pitch import inference
    except ImportError as e:
        missing = MissingExtraError.from_import_error(e, "transcription", INSTALL)
        if missing is None:
            raise
        raise missing from e
    finally:
        logging.disable(logging.NOTSET)
        for name in hidden:
            del sys.modules[name]
    return inference


def _model_path() -> Path:
    """The ONNX file of basic-pitch's shipped model (the package is imported already)."""
    from basic_pitch import FilenameSuffix, build_icassp_2022_model_path

    return Path(build_icassp_2022_model_path(FilenameSuffix.onnx))
