"""PieceSynthesizer: a whole score played by FluidSynth from one SoundFont program.

The note-bank synthesizer (:mod:`timbre.data.synth`) plays each note from a
4 s recording held for 3 s, as NSynth does: a string note held longer fades
after 3 s, where real strings sustain, and every velocity snaps to one of five.
Played by FluidSynth itself, a note sounds as long as the music holds it, at
its own velocity, with the instrument's own attack, sustain and release.

Timing is the note-bank synthesizer's (:func:`~timbre.data.synth.timing`:
the pedal and re-strikes applied, ``playback_speed``, ``duration_rate``,
``transpose``, ``max_seconds``), so every instrument of a piece gives the same
length whichever renderer plays it; the last ``release_seconds`` are faded, so
a release cut at the end never clicks. Reverb and chorus are off (dry, like the
banks); FluidSynth renders at ``sample_rate`` directly. Each piece is played
by a synthesizer of its own (a reused one carries state from note to note, and
its 16-bit dither from sample to sample, so the bytes would depend on what was
played before); SoundFont samples are loaded only for the program used, which
keeps that cheap (about 1 s for MuseScore General's compressed piano, 0.05 s
for the others).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from timbre.data.midi import Score
from timbre.data.soundfont_render import open_soundfont
from timbre.data.synth import at_headroom, timing
from timbre.errors import NoteBankError
from timbre.settings import SynthConfig

GAIN = 0.4  # FluidSynth's master gain; halved and the piece re-rendered if 16-bit output clips
FULL_SCALE = 32767  # FluidSynth's 16-bit output


class PieceSynthesizer:
    """Renders scores with one program of a SoundFont, note by note as the music holds them.

    ``PieceSynthesizer(soundfont, program, config).render(score)`` returns float32
    ``(round(seconds * sample_rate),)`` peaking at ``-headroom_db`` dBFS, as
    :class:`~timbre.data.synth.NoteSynthesizer` does.

    Attributes:
        substitutions: always empty (FluidSynth plays every pitch itself).
    """

    def __init__(self, soundfont: str | Path, program: int, config: SynthConfig | None = None):
        self.soundfont, self.program = Path(soundfont), int(program)
        self.config = config or SynthConfig()
        self.substitutions: dict[int, int] = {}

    def render(self, score: Score) -> np.ndarray:
        """Play ``score``; float32 ``(round(seconds * sample_rate),)`` at ``-headroom_db`` dBFS."""
        gain = GAIN
        while True:
            stereo = self._play(score, gain)
            if np.max(np.abs(stereo), initial=0) < FULL_SCALE or gain < 1e-3:
                break
            gain /= 2  # a dense, loud passage clipped FluidSynth's 16-bit output
        out = stereo.mean(axis=1, dtype=np.float32) / FULL_SCALE
        release = min(int(round(self.config.release_seconds * self.config.sample_rate)), out.size)
        if release:
            out[-release:] *= np.linspace(1.0, 0.0, release + 1, dtype=np.float32)[1:]
        return at_headroom(out, self.config.headroom_db)

    def _play(self, score: Score, gain: float) -> np.ndarray:
        """FluidSynth's 16-bit stereo output of ``score``, ``(n, 2)`` int32, exact length."""
        config, rate = self.config, self.config.sample_rate
        onsets, lengths, seconds = timing(score, config)
        n_out = int(round(seconds * rate))
        starts = np.round(onsets * rate).astype(np.int64)
        ends = np.maximum(np.round((onsets + lengths) * rate).astype(np.int64), starts + 1)
        pitches = np.clip(score.pitch + config.transpose, 0, 127)
        playing = starts < n_out
        # (sample, 0 = off before 1 = on at the same sample, pitch, velocity)
        events = [(int(e), 0, int(p), 0) for e, p in zip(ends[playing], pitches[playing])]
        events += [
            (int(s), 1, int(p), int(v))
            for s, p, v in zip(starts[playing], pitches[playing], score.velocity[playing])
        ]
        events.sort()
        synth, sfid = open_soundfont(self.soundfont, rate, gain, lazy=True)
        try:
            if synth.program_select(0, sfid, 0, self.program) != 0:
                raise NoteBankError(
                    f"{self.soundfont}: no preset for program {self.program} (expected a General "
                    "MIDI SoundFont)"
                )
            chunks, position = [], 0
            for sample, kind, pitch, velocity in events:
                sample = min(sample, n_out)
                if sample > position:
                    chunks.append(_samples(synth, sample - position))
                    position = sample
                if kind:
                    synth.noteon(0, pitch, velocity)
                else:
                    synth.noteoff(0, pitch)
            if n_out > position:
                chunks.append(_samples(synth, n_out - position))
        finally:
            synth.delete()
        return np.concatenate(chunks) if chunks else np.zeros((0, 2), np.int32)


def _samples(synth, n: int) -> np.ndarray:
    return np.asarray(synth.get_samples(n), dtype=np.int32).reshape(-1, 2)
