"""Pairs from a user's own recordings alone: transcribe them, render the transcription.

A folder of recordings of one instrument (``played``: the user's piano, or their cello)
becomes a paired audio folder (:mod:`timbre.formats.audio_folder`) that
``compute_features.py`` and training read like any other:

1. each recording is transcribed once (:func:`timbre.data.transcribe.transcribe_folder`,
   into ``<audios>/transcriptions/``);
2. it is cut into segments of ``segment_seconds`` (bounded memory whatever its length), each
   a piece ``<recording>__<k>``: the recording's samples, at the recording's rate resampled to
   ``sample_rate`` and brought to the renderer's peak (``-headroom_db`` dBFS), under
   ``<audios>/<played>/``, and the notes that start in the segment played by every other
   instrument (FluidSynth, :class:`timbre.data.fluid.PieceSynthesizer`) under
   ``<audios>/<instrument>/``, of the segment's exact length: aligned by construction, since
   the rendering follows the transcription's timing. A segment without a note is left out;
3. the split is by recording, seeded (:func:`split_recordings`): the segments of a held-out
   recording are all in ``test`` or all in ``val``, never beside its training segments.

Transcription mistakes make the pairs noisier, and so do the segment edges: a note held
into the next segment sounds in its recording but is not rendered there.

Every file is written atomically and a rerun skips the pieces whose files are all there.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from timbre.data import midi
from timbre.data.fluid import PieceSynthesizer
from timbre.data.sources import draw as sources_draw
from timbre.data.synth import at_headroom
from timbre.data.transcribe import (
    TranscribeConfig,
    Transcriber,
    recordings_in,
    transcribe_folder,
)
from timbre.errors import ConfigError, DatasetError
from timbre.formats import audio_folder
from timbre.io import audio
from timbre.settings import SynthConfig

TRANSCRIPTIONS = "transcriptions"  # <audios>/transcriptions/<recording>.mid


@dataclasses.dataclass(frozen=True)
class OwnPairsConfig:
    """How recordings become pairs."""

    segment_seconds: float = 30.0  # length of a piece cut from a recording
    held_out_share: float = 0.2  # share of the recordings held out for test (val: one more)
    seed: int = 0  # seed of the split by recording
    # Stricter onsets than basic-pitch's 0.5: a wrong note in a pair teaches the model a wrong
    # sound, a missed one only leaves it silent. On bench/bench_adapt.py's stand-ins (30 min
    # each) 0.7 took the note F1 of the transcription against the true notes from 0.51 to
    # 0.66 on a cello with vibrato and 0.86 to 0.90 on a plainer one; a recorded piano kept
    # about its own (0.72, 0.71). basic-pitch ends a note where its sound has faded, and a
    # rendered note sounds on for its release after the note-off: the offsets move 140 ms
    # earlier (they came a median 141 ms late on the cello, 148 ms on the recorded piano).
    transcription: TranscribeConfig = TranscribeConfig(onset_threshold=0.7, offset_shift_ms=-140.0)

    def __post_init__(self) -> None:
        if not 2.0 <= self.segment_seconds <= 600.0:
            raise ConfigError(
                f"OwnPairsConfig: segment_seconds={self.segment_seconds!r} (expected 2 to 600)"
            )
        if not 0.0 < self.held_out_share < 1.0:
            raise ConfigError(
                f"OwnPairsConfig: held_out_share={self.held_out_share!r} (expected between 0 and 1)"
            )


def split_recordings(names: list[str], share: float, seed: int) -> dict[str, str]:
    """``{recording: split}``, seeded: ``round(share * n)`` recordings held out for ``test``
    (at least one, from two recordings on), and from three on one more for ``val`` (training
    picks its exported epoch on it, so the test recordings judge a model that never saw them)."""
    names = sorted(names)
    n = len(names)
    n_test = 0 if n < 2 else max(1, min(n - 1, round(share * n)))
    n_val = 1 if n - n_test >= 2 else 0
    order = np.random.default_rng(seed).permutation(n)
    splits = {name: "train" for name in names}
    for k, i in enumerate(order[: n_test + n_val]):
        splits[names[i]] = "test" if k < n_test else "val"
    return splits


def pairs_from_recordings(
    recordings: str | os.PathLike,
    audios_path: str | os.PathLike,
    played: str,
    players: Mapping[str, Sequence[tuple[str | os.PathLike, int]]],
    synth: SynthConfig | None = None,
    config: OwnPairsConfig = OwnPairsConfig(),
    transcriber: Transcriber | None = None,
    progress: bool = True,
) -> Path:
    """Write the paired audio folder of ``recordings`` (module docstring) into ``audios_path``.

    Args:
        recordings: a folder of recordings of ``played`` (any format, rate and length).
        audios_path: output folder (created; resumed).
        played: the NSynth name of the recordings' instrument (``keyboard_acoustic``).
        players: ``{instrument: [(SoundFont, GM program), ...]}`` rendering each other
            instrument: each segment is played by one of them, drawn from ``config.seed``
            and the piece's name (:func:`timbre.data.sources.draw`; one: always it).
        synth: rate and headroom of the pairs (``sample_rate``, ``headroom_db``; default
            ``SynthConfig()``).
        config: segment length, split and transcription thresholds.
        transcriber: the model (default: loaded with ``config.transcription``).
        progress: show progress bars.

    Returns:
        The manifest's path.

    Raises:
        ConfigError: ``played`` among ``players``, no instrument to render, or one without
            a player.
        DatasetError: no recordings, no notes in any, or no segment with notes.
    """
    if not players or played in players or not all(players.values()):
        raise ConfigError(
            f"players: {sorted(players)} (expected the instruments to render, other than "
            f"{played!r}, which the recordings play)"
        )
    synth = synth or SynthConfig()
    out = Path(audios_path)
    midis = transcribe_folder(
        recordings, out / TRANSCRIPTIONS, transcriber, progress, config=config.transcription
    )
    sources = recordings_in(recordings, out / TRANSCRIPTIONS)
    splits = split_recordings(list(midis), config.held_out_share, config.seed)
    synthesizers = {
        name: [PieceSynthesizer(soundfont, program, synth) for soundfont, program in choices]
        for name, choices in players.items()
    }
    pieces: dict[str, dict] = {}
    for recording, midi_file in midis.items():
        score = midi.read(midi_file)
        for piece, seconds in _segments(
            out, recording, sources[recording], score, played, synthesizers, synth, config
        ):
            pieces[piece] = {
                "seconds": seconds,
                "players": {
                    name: _label(players[name][sources_draw(len(choices), piece, config.seed)])
                    for name, choices in players.items()
                },
                "midi": str(midi_file),
                "split": splits[recording],
                "recording": str(sources[recording]),
            }
    if not pieces:
        raise DatasetError(f"{recordings}: no segment of its recordings holds a note")
    split = {
        name: sorted(p for p, e in pieces.items() if e["split"] == name)
        for name in audio_folder.SPLITS
    }
    header = {
        "instruments": [played, *players],
        "sample_rate": synth.sample_rate,
        "synth": dataclasses.asdict(synth),
        "own_recordings": {"played": played, **dataclasses.asdict(config)},
        "players": {name: [_label(c) for c in choices] for name, choices in players.items()},
    }
    return audio_folder.write(out, header, pieces, split, {})


def _label(player: tuple[str | os.PathLike, int]) -> str:
    """A player as the manifest names it: ``<SoundFont stem>:<program>``."""
    return f"{Path(player[0]).stem}:{int(player[1])}"


def _segments(out, recording, source, score, played, synthesizers, synth, config):
    """Write each segment of one recording with its renderings; yields ``(piece, seconds)``."""
    rate, size = synth.sample_rate, int(round(config.segment_seconds * synth.sample_rate))
    start = 0
    for block in audio.regroup(audio.read_blocks(source, rate), size):
        piece, offset = f"{recording}__{start // size:04d}", start / rate
        start += len(block)
        seconds = len(block) / rate
        inside = (score.start >= offset) & (score.start < offset + seconds)
        if not inside.any():
            continue
        paths = {
            name: audio_folder.piece_path(out, name, piece) for name in (played, *synthesizers)
        }
        if all(path.is_file() for path in paths.values()):
            yield piece, seconds
            continue
        notes = midi.Score.from_notes(
            [
                (s - offset, min(e, offset + seconds) - offset, p, v)
                for s, e, p, v in zip(
                    score.start[inside],
                    score.end[inside],
                    score.pitch[inside],
                    score.velocity[inside],
                )
            ]
        )
        for name, choices in synthesizers.items():
            synthesizer = choices[sources_draw(len(choices), piece, config.seed)]
            rendered = synthesizer.render(notes)[: len(block)]
            audio.save(paths[name], np.pad(rendered, (0, len(block) - len(rendered))), rate)
        audio.save(paths[played], at_headroom(block.copy(), synth.headroom_db), rate)
        yield piece, seconds
