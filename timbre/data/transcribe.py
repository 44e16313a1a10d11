"""Notes in a recording: basic-pitch's polyphonic transcription model, on ONNX Runtime.

basic-pitch (Spotify, Apache-2.0) ships its model inside its package
(``saved_models/icassp_2022/nmp.onnx``, 230 kB): nothing is downloaded. Its
package imports every backend it finds at import time, TensorFlow included;
:func:`_basic_pitch` hides TensorFlow, Core ML and TFLite from that import (where
they are not already loaded) so transcription costs ONNX Runtime alone, and
silences the warnings it logs about the backends it did not find.

A file is transcribed in chunks of ``chunk_seconds`` (bounded memory whatever its
length); a note held across a chunk boundary comes back as two notes.

A note's velocity comes from the recording, not from the model: basic-pitch's amplitude
is the mean of its frame probabilities, a confidence, which follows how loud a note is
played hardly at all (correlation 0.15 with the true velocities on ``bench/bench_adapt.py``'s
cello). :func:`note_levels_db` measures each note's level at its first harmonics, and
:func:`velocities` maps the levels of a whole recording to velocities by the SoundFont
default curve (level in proportion to velocity squared, 40 dB per decade), the loudest
notes at 127 (correlation 0.74 on the same cello). A rendering of the transcription then
plays loud where the recording is loud, which is what a pair of them needs.

A note is found where it is heard, and basic-pitch hears it until its sound has faded:
its offset comes after the note-off that played it, by the instrument's release and the
room's reverberation (a median 141 ms on ``bench/bench_adapt.py``'s cello, 148 ms on its
recorded piano). A renderer adds a release of its own after the note-off, so a rendering
meant to line up with the recording moves the offsets earlier (``offset_shift_ms``;
:class:`timbre.data.own.OwnPairsConfig` does, by 140 ms). By default notes stay where
they are heard.

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
from timbre.dsp.stft import hann_window, stft
from timbre.errors import DatasetError, MissingExtraError
from timbre.io import audio
from timbre.settings import SpectrogramConfig

SAMPLE_RATE = 22050  # basic-pitch's input rate, Hz
HIDDEN = ("tensorflow", "coremltools", "tflite_runtime")  # backends basic-pitch would import
INSTALL = "then pip install --no-deps basic-pitch==0.4.0"
LEVEL_STFT = SpectrogramConfig(sample_rate=SAMPLE_RATE, n_fft=4096, hop_length=256, n_bins=2049)
HARMONICS = 3  # a note's level: the power within half a semitone of its first harmonics
ATTACK_S = 0.2  # peak power over the note's first seconds (or its length)
DB_PER_DECADE = 40.0  # SoundFont default velocity curve: level = 40 dB * log10(velocity / 127)
LOUDEST_PERCENTILE = 99.0  # a recording's notes this loud or louder are played at 127
SHORTEST_NOTE_S = 0.05  # a note the offset shift shortens lasts this long at least


@dataclasses.dataclass(frozen=True)
class Note:
    """One transcribed note."""

    start_s: float  # onset, seconds from the start of the recording
    end_s: float  # offset, seconds
    pitch: int  # MIDI note number
    velocity: int  # MIDI velocity 1-127, from the note's level in the recording


@dataclasses.dataclass(frozen=True)
class TranscribeConfig:
    """basic-pitch's decoding thresholds (its defaults), the chunk length, and how far the
    notes' onsets and offsets move once found (none by default: where they are heard)."""

    onset_threshold: float = 0.5  # onset probability that starts a note
    frame_threshold: float = 0.3  # frame probability that holds it
    minimum_note_ms: float = 127.7  # shorter notes are dropped
    chunk_seconds: float = 120.0  # audio transcribed at once (memory)
    onset_shift_ms: float = 0.0  # added to every onset (negative: earlier)
    offset_shift_ms: float = 0.0  # added to every offset; a note keeps SHORTEST_NOTE_S


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
        events: list[tuple[float, float, int]] = []
        levels = [np.zeros(0)]
        start = 0
        for samples in audio.regroup(blocks, chunk):
            found = self._chunk(samples)
            levels.append(note_levels_db(samples, found, SAMPLE_RATE))
            events += [(s + start / SAMPLE_RATE, e + start / SAMPLE_RATE, p) for s, e, p in found]
            start += len(samples)
        notes = [
            Note(*shifted(s, e, self.config), p, int(v))
            for (s, e, p), v in zip(events, velocities(np.concatenate(levels)))
        ]
        return sorted(notes, key=lambda n: (n.start_s, n.pitch))

    def _chunk(self, samples: np.ndarray) -> list[tuple[float, float, int]]:
        """``(onset s, offset s, pitch)`` of the notes of one chunk; basic-pitch reads a file,
        so the chunk goes through a temporary WAV at its rate."""
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
        return [(float(start), float(end), int(pitch)) for start, end, pitch, *_ in events]


def shifted(start_s: float, end_s: float, config: TranscribeConfig) -> tuple[float, float]:
    """A heard note's ``(onset, offset)`` moved by ``config``'s shifts, the onset no earlier
    than 0 and the offset at least :data:`SHORTEST_NOTE_S` after it."""
    start = max(0.0, start_s + config.onset_shift_ms / 1000)
    return start, max(start + SHORTEST_NOTE_S, end_s + config.offset_shift_ms / 1000)


def note_levels_db(
    samples: np.ndarray, notes: Sequence[tuple[float, float, int]], sample_rate: int
) -> np.ndarray:
    """Each note's level in ``samples``, dB of full-scale power: the peak, over its first
    :data:`ATTACK_S` seconds (or its length), of the power within half a semitone of its first
    :data:`HARMONICS` harmonics (or the window's main lobe, where that is wider), by a
    :data:`LEVEL_STFT` STFT: a full-scale sinusoid at the note's pitch is 0 dB.

    Args:
        samples: the recording (or a chunk of it), float.
        notes: ``(onset s, offset s, MIDI pitch)`` in the time of ``samples``.
        sample_rate: of ``samples``, Hz.

    Returns:
        float64 of shape ``(len(notes),)``; -200 dB for a note in digital silence.
    """
    n_fft, hop = LEVEL_STFT.n_fft, LEVEL_STFT.hop_length
    freqs = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    window = hann_window(n_fft)
    # a sinusoid's power summed over its main lobe (Parseval), so a full-scale one is 0 dB
    scale = 4.0 / (n_fft * np.sum(window**2))
    lobe_hz = 2 * sample_rate / n_fft  # the Hann main lobe's half width
    levels = np.empty(len(notes))
    for k, (start_s, end_s, pitch) in enumerate(notes):
        first = int(start_s * sample_rate)
        last = first + max(hop, int(min(end_s - start_s, ATTACK_S) * sample_rate))
        power = np.abs(stft(samples[first:last], LEVEL_STFT)) ** 2  # (bins, frames)
        centres = midi_to_hz(pitch) * np.arange(1, HARMONICS + 1)
        reach = np.maximum(centres * (2 ** (1 / 24) - 1), lobe_hz)  # or the main lobe, where wider
        band = (np.abs(freqs[:, None] - centres) <= reach).any(axis=1)
        peak = power[band].sum(axis=0).max() if band.any() else 0.0
        levels[k] = 10 * np.log10(max(float(peak) * scale, 1e-20))
    return levels


def midi_to_hz(pitches: np.ndarray | int) -> np.ndarray:
    """MIDI note numbers -> Hz (69 is A4, 440 Hz), float64 of their shape."""
    return 440.0 * 2.0 ** ((np.asarray(pitches, dtype=np.float64) - 69.0) / 12.0)


def velocities(levels_db: np.ndarray) -> np.ndarray:
    """MIDI velocities (int, 1-127) of notes whose levels in one recording are ``levels_db``:
    the SoundFont default curve inverted (:data:`DB_PER_DECADE`), the
    :data:`LOUDEST_PERCENTILE` th percentile of the levels at 127."""
    levels = np.asarray(levels_db, dtype=np.float64)
    if not len(levels):
        return np.zeros(0, dtype=np.int64)
    loudest = np.percentile(levels, LOUDEST_PERCENTILE)
    velocity = 127 * 10 ** ((levels - loudest) / DB_PER_DECADE)
    return np.clip(np.round(velocity), 1, 127).astype(np.int64)


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
