"""NoteSynthesizer: a note list plus a note bank becomes a waveform (no file IO).

How a :class:`~timbre.data.midi.Score` is played (``SynthConfig`` holds the numbers):

1. Timing. The sustain pedal first extends each key release to the moment the
   pedal lifts (a note released while the pedal is down sounds on), but a
   re-struck key stops the earlier note of that pitch. Then, with ``speed =
   playback_speed``: onset ``t`` -> ``t / speed``; sounding length ``d`` ->
   ``d * duration_rate / speed``.
2. Pitch ``p`` -> ``p + transpose``. The bank's nearest velocity is used; a
   pitch the bank lacks is made from its nearest pitch by resampling (one
   warning per synthesizer, listing the substitutions).
3. Each note is its bank recording, cut at the end of its sounding length with
   a ``release_seconds`` linear fade (a note longer than the recording plays
   the whole recording, which holds for 3 s then releases). Notes are mixed at
   the bank's rate and the mix is resampled once to ``sample_rate``. The bank's
   recordings are never modified.
4. The output lasts until the last note's release has ended, so every
   instrument gives the same length for the same score; ``max_seconds`` cuts it
   (notes starting later are dropped, the cut is faded). Finally the peak is
   set to ``-headroom_db`` dBFS (silence stays silence).
"""

from __future__ import annotations

import warnings

import numpy as np

from timbre.data.midi import Score
from timbre.data.notebank import NoteBank
from timbre.errors import NoteBankError
from timbre.io import audio
from timbre.settings import SynthConfig

SILENT_MIX_PEAK = 1e-9  # a mix whose peak is below this is returned as zeros, unscaled


def sounding_ends(score: Score) -> np.ndarray:
    """When each note stops sounding, in MIDI seconds: the pedal and re-strikes applied.

    Returns:
        ``(n,)`` float64: the key release, moved to the pedal's lift when the
        pedal (same track) is down at the release, but never past the next onset
        of the same pitch on the same track.
    """
    ends = score.end.copy()
    for track in np.unique(score.pedal[:, 0]) if len(score.pedal) else ():
        rows = score.pedal[score.pedal[:, 0] == track]
        rows = rows[np.argsort(rows[:, 1])]
        mine = np.flatnonzero(score.track == track)
        k = np.searchsorted(rows[:, 1], ends[mine], side="right") - 1
        held = (k >= 0) & (rows[np.maximum(k, 0), 2] > ends[mine])
        ends[mine[held]] = rows[k[held], 2]
    key = score.track * 128 + score.pitch
    order = np.lexsort((score.start, key))
    same = key[order][1:] == key[order][:-1]
    later_start = score.start[order][1:]
    cut = order[:-1][same]
    ends[cut] = np.maximum(np.minimum(ends[cut], later_start[same]), score.start[cut])
    return ends


def timing(score: Score, config: SynthConfig) -> tuple[np.ndarray, np.ndarray, float]:
    """Output onsets and sounding lengths in seconds, and the output duration.

    Every renderer of a piece uses this, so all instruments of a piece align.

    Returns:
        ``(onsets_s, lengths_s, seconds)``: ``(n,)`` and ``(n,)`` for every
        note, and the output duration: the end of the last release, or
        ``max_seconds`` when that is shorter (notes starting later are not played).
    """
    onsets = score.start / config.playback_speed
    lengths = (sounding_ends(score) - score.start) * config.duration_rate / config.playback_speed
    seconds = float(np.max(onsets + lengths)) + config.release_seconds if len(score) else 0.0
    if config.max_seconds is not None and seconds > config.max_seconds:
        seconds = float(config.max_seconds)
    return onsets, lengths, seconds


def at_headroom(out: np.ndarray, headroom_db: float) -> np.ndarray:
    """``out`` scaled in place to peak at ``-headroom_db`` dBFS (silence stays silence)."""
    peak = max(float(out.max(initial=0.0)), -float(out.min(initial=0.0)))
    if peak > SILENT_MIX_PEAK:
        out *= np.float32(10 ** (-headroom_db / 20) / peak)
    return out


class NoteSynthesizer:
    """Renders scores with one instrument's note bank.

    ``NoteSynthesizer(bank, config).render(score)`` returns float32 ``(n,)`` at
    ``config.sample_rate``. Resampled notes are cached per synthesizer (read-only).

    Attributes:
        substitutions: ``wanted pitch -> bank pitch`` for every pitch built by resampling.
    """

    def __init__(
        self, bank: NoteBank, config: SynthConfig | None = None, warn: bool = True
    ) -> None:
        self.bank = bank
        self.config = config or SynthConfig()
        self.warn = warn
        self.substitutions: dict[int, int] = {}
        self._pitches = bank.pitches
        if self._pitches.size == 0:
            raise NoteBankError(f"{bank.folder}: note bank of {bank.instrument} holds no notes")
        self._velocities = {int(p): bank.velocities(int(p)) for p in self._pitches}
        self._notes: dict[
            tuple[int, int], np.ndarray
        ] = {}  # (pitch, velocity) asked -> recording used
        self._shifted: dict[
            tuple[int, int], np.ndarray
        ] = {}  # (pitch, bank velocity) -> resampled recording
        self._warned = False

    def timing(self, score: Score) -> tuple[np.ndarray, np.ndarray, float]:
        """:func:`timing` with this synthesizer's settings."""
        return timing(score, self.config)

    def render(self, score: Score) -> np.ndarray:
        """Play ``score``.

        Returns:
            float32 ``(round(seconds * sample_rate),)`` peaking at ``-headroom_db`` dBFS.
        """
        config, rate = self.config, self.bank.sample_rate
        onsets, lengths, seconds = self.timing(score)
        n_mix = int(np.ceil(seconds * rate))
        mix = np.zeros(n_mix + 1, dtype=np.float32)
        release = max(int(round(config.release_seconds * rate)), 1)
        fade = np.linspace(1.0, 0.0, release + 1, dtype=np.float32)[1:]
        starts = np.round(onsets * rate).astype(np.int64)
        holds = np.round(lengths * rate).astype(np.int64)
        pitches = score.pitch + config.transpose
        for i in np.flatnonzero(starts < n_mix):
            note = self._note(int(pitches[i]), int(score.velocity[i]))
            s, hold = int(starts[i]), min(int(holds[i]), note.size, n_mix - int(starts[i]))
            mix[s : s + hold] += note[:hold]
            tail = min(release, note.size - hold, n_mix - s - hold)
            mix[s + hold : s + hold + tail] += note[hold : hold + tail] * fade[:tail]
        mix = mix[:n_mix]
        if config.max_seconds is not None and seconds >= config.max_seconds and n_mix:
            mix[-release:] *= fade[-min(release, n_mix) :]
        self._warn_substitutions()
        return self._finish(mix, rate, int(round(seconds * config.sample_rate)))

    def _finish(self, mix: np.ndarray, rate: int, n_out: int) -> np.ndarray:
        out = audio.resample(
            mix, rate, self.config.sample_rate
        )  # a new array (or ``mix`` itself): ours to scale
        if out.size != n_out:
            out = np.concatenate([out[:n_out], np.zeros(max(n_out - out.size, 0), np.float32)])
        return at_headroom(out, self.config.headroom_db)

    def _note(self, pitch: int, velocity: int) -> np.ndarray:
        """The bank's recording for ``(pitch, velocity)`` at the bank's rate.

        The nearest velocity and the nearest pitch stand in for missing ones.
        """
        key = (pitch, velocity)
        if key not in self._notes:
            source = int(self._pitches[np.argmin(np.abs(self._pitches - pitch))])
            velocities = self._velocities[source]
            bank_velocity = int(velocities[np.argmin(np.abs(velocities - velocity))])
            recording = self.bank.note(source, bank_velocity)
            if source != pitch:
                self.substitutions[pitch] = source
                if (pitch, bank_velocity) not in self._shifted:
                    rate = self.bank.sample_rate
                    shifted = audio.resample(recording, rate * 2.0 ** ((pitch - source) / 12), rate)
                    shifted.setflags(write=False)
                    self._shifted[(pitch, bank_velocity)] = shifted
                recording = self._shifted[(pitch, bank_velocity)]
            self._notes[key] = recording
        return self._notes[key]

    def _warn_substitutions(self) -> None:
        if self.warn and self.substitutions and not self._warned:
            self._warned = True
            warnings.warn(
                substitution_message(self.bank.instrument, self.substitutions), stacklevel=3
            )


def substitution_message(instrument: str, substitutions: dict[int, int]) -> str:
    """One line naming the pitches that were built from a neighbour by resampling."""
    pairs = ", ".join(f"{wanted} from {used}" for wanted, used in sorted(substitutions.items()))
    return (
        f"{instrument}: the note bank lacks {len(substitutions)} pitches; "
        f"made them by resampling the nearest: {pairs}"
    )
