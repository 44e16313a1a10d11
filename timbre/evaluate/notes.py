"""Notes kept: does a conversion still play the notes of its input?

Both signals are transcribed by the same model (:class:`timbre.data.transcribe.Transcriber`)
and the notes compared with ``mir_eval.transcription``: a note of the conversion matches a
note of the input when its onset lies within ``onset_tolerance_s`` (50 ms) of it and its
pitch within 50 cents (the same MIDI note); offsets are ignored, since a target instrument
sustains and decays in its own way. Transcription mistakes are shared by both sides, so a
conversion that keeps every note scores near 1 even where the transcriber errs; one that
blurs onsets or drops notes scores lower.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from timbre.data.transcribe import Note, Transcriber, midi_to_hz, to_arrays
from timbre.errors import MissingExtraError

ONSET_TOLERANCE_S = 0.05  # mir_eval's default onset window, seconds


def note_f1(
    reference: Sequence[Note],
    estimate: Sequence[Note],
    onset_tolerance_s: float = ONSET_TOLERANCE_S,
) -> tuple[float, float, float]:
    """``(precision, recall, F1)`` of ``estimate``'s notes against ``reference``'s (onset
    and pitch; module docstring). Two empty transcriptions agree: ``(1, 1, 1)``; one empty
    side gives 0.

    Raises:
        MissingExtraError: mir_eval is not installed.
    """
    if not reference and not estimate:
        return 1.0, 1.0, 1.0
    if not reference or not estimate:
        return 0.0, 0.0, 0.0
    try:
        from mir_eval import transcription
    except ImportError as e:
        missing = MissingExtraError.from_import_error(e, "the notes-kept metric")
        if missing is None:
            raise
        raise missing from e
    (ref_intervals, ref_pitches), (est_intervals, est_pitches) = (
        to_arrays(reference),
        to_arrays(estimate),
    )
    precision, recall, f1, _ = transcription.precision_recall_f1_overlap(
        ref_intervals,
        midi_to_hz(ref_pitches),  # mir_eval compares pitches in Hz
        est_intervals,
        midi_to_hz(est_pitches),
        onset_tolerance=onset_tolerance_s,
        offset_ratio=None,
    )
    return float(precision), float(recall), float(f1)


def notes_kept(
    transcriber: Transcriber, outputs: Mapping[str, np.ndarray], sample_rate: int, reference: str
) -> dict[str, float]:
    """The note F1 of every output against ``outputs[reference]`` (the input), each transcribed
    once: ``{system: F1}``; the reference itself keeps all its notes (1.0, not transcribed
    twice: the transcriber is deterministic)."""
    theirs = transcriber.samples(outputs[reference], sample_rate)
    return {
        system: 1.0
        if system == reference
        else note_f1(theirs, transcriber.samples(x, sample_rate))[2]
        for system, x in outputs.items()
    }
