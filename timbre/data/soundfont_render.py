"""SoundFont notes rendered with FluidSynth into a note bank in the NSynth layout.

:func:`render_missing` renders, with FluidSynth, every (pitch, velocity) of the
instruments a bank folder lacks (pitches 21-108 x velocities 25/50/75/100/127, note
held 3 s, 4 s long, 16 kHz, PCM_16) and writes them in the layout of
:mod:`timbre.data.nsynth`. One gain per instrument (its loudest note peaks at
:data:`BANK_PEAK`) keeps the loudness differences between velocities; notes the
SoundFont leaves silent are not listed. :func:`open_soundfont` is the one way
timbre starts FluidSynth.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from timbre.data import nsynth
from timbre.data.nsynth import BANK_RATE, BANK_VELOCITIES, HELD_SECONDS, NOTE_SECONDS
from timbre.errors import NoteBankError
from timbre.io import audio

BANK_PEAK = 10 ** (-1 / 20)  # each SoundFont instrument's loudest note peaks at -1 dBFS
SILENT_NOTE = 1e-4  # a rendered note with a lower peak is left out of the bank


def render_missing(
    soundfont: Path, folder: Path, chosen: Mapping[str, int], progress: bool, pitches: Sequence[int]
) -> None:
    """Render the instruments of ``chosen`` that ``folder`` lacks.

    examples.json is rewritten after each.
    """
    examples = nsynth.read_examples(folder)
    done = {e.get("instrument_str") for e in examples.values()}
    todo = {
        name: program for name, program in chosen.items() if f"{name}_{program:03d}" not in done
    }
    if not todo:
        return
    synth, sfid = open_soundfont(soundfont)
    try:
        for name, program in todo.items():
            if synth.program_select(0, sfid, 0, program) != 0:
                raise NoteBankError(
                    f"{soundfont}: no preset for program {program} of {name} (expected a General "
                    "MIDI SoundFont)"
                )
            notes = render_instrument(synth, f"{name} (program {program})", progress, pitches)
            examples.update(_save_instrument(folder, name, program, notes, soundfont))
            nsynth.write_examples(folder, examples)
    finally:
        synth.delete()


def _import_fluidsynth():
    try:
        import fluidsynth
    except (ImportError, OSError) as e:
        raise NoteBankError(
            f"FluidSynth library not found ({e}); install it: sudo apt-get install libfluidsynth3 "
            "(macOS: brew install fluid-synth), or run `make setup`; or use --nsynth_path"
        ) from e
    return fluidsynth


def open_soundfont(
    soundfont: Path, sample_rate: int = BANK_RATE, gain: float = 1.5, lazy: bool = False
):
    """A FluidSynth synthesizer (reverb and chorus off) with ``soundfont`` loaded.

    ``lazy``: load a preset's samples only when it is selected (fast for one program).

    Returns:
        ``(synth, soundfont id)``; the caller deletes the synth.

    Raises:
        NoteBankError: no FluidSynth library, or a file FluidSynth cannot load.
    """
    fluidsynth = _import_fluidsynth()
    synth = fluidsynth.Synth(
        gain=gain,
        samplerate=float(sample_rate),
        **{
            "synth.reverb.active": 0,
            "synth.chorus.active": 0,
            "synth.dynamic-sample-loading": int(lazy),
        },
    )
    sfid = synth.sfload(str(soundfont))
    if sfid < 0:
        synth.delete()
        raise NoteBankError(
            f"{soundfont}: FluidSynth cannot load this SoundFont (expected a valid .sf2 file)"
        )
    return synth, sfid


def render_instrument(
    synth, label: str, progress: bool, pitches: Sequence[int]
) -> dict[tuple[int, int], np.ndarray]:
    """Every (pitch, velocity) of the bank on channel 0.

    Returns:
        float32 ``(NOTE_SECONDS * BANK_RATE,)`` per note.
    """
    from tqdm.auto import tqdm

    held, rest = int(HELD_SECONDS * BANK_RATE), int((NOTE_SECONDS - HELD_SECONDS) * BANK_RATE)
    notes = {}
    for pitch in tqdm(
        pitches, desc=f"rendering {label}", unit="pitch", disable=not progress, leave=False
    ):
        for velocity in BANK_VELOCITIES:
            synth.noteon(0, pitch, velocity)
            on = synth.get_samples(held)
            synth.noteoff(0, pitch)
            off = synth.get_samples(rest)
            synth.all_sounds_off(0)
            stereo = np.concatenate([on, off]).reshape(-1, 2).astype(np.float32)
            notes[(pitch, velocity)] = stereo.mean(axis=1) / 32768.0
    return notes


def _save_instrument(
    folder: Path,
    name: str,
    program: int,
    notes: Mapping[tuple[int, int], np.ndarray],
    soundfont: Path,
) -> dict[str, dict]:
    """Write one instrument's notes with one gain.

    Returns:
        Its examples.json entries (silent notes left out).
    """
    peak = max(float(np.max(np.abs(x))) for x in notes.values())
    if peak < SILENT_NOTE:
        raise NoteBankError(
            f"{soundfont}: program {program} of {name} renders silence (expected audible notes)"
        )
    gain = BANK_PEAK / peak
    instrument_str = f"{name}_{program:03d}"
    family, _, source = name.rpartition("_")
    entries = {}
    for (pitch, velocity), samples in notes.items():
        if np.max(np.abs(samples)) * gain < SILENT_NOTE:
            continue
        note_str = nsynth.note_str(instrument_str, pitch, velocity)
        audio.save(nsynth.note_path(folder, note_str), samples * gain, BANK_RATE, subtype="PCM_16")
        entries[note_str] = {
            "note_str": note_str,
            "pitch": pitch,
            "velocity": velocity,
            "sample_rate": BANK_RATE,
            "instrument": program,
            "instrument_str": instrument_str,
            "instrument_family_str": family or source,
            "instrument_source_str": source if family else "",
            "soundfont": soundfont.name,
        }
    return entries
