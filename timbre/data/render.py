"""MIDI files + note banks -> paired audio: ``<audios>/<instrument>/<piece>.wav`` and a manifest.

:func:`render_pairs` renders every MIDI file under a folder with every
instrument of a :class:`~timbre.data.notebank.BankSet` from the identical note list,
so the files of one piece have exactly equal lengths and align sample for
sample. Pieces are spread over a process pool. Every file is written
atomically, and a piece counts as done only when all its instrument files exist
and ``<audios>/.render_state.json`` (:mod:`timbre.formats.render_state`) records
it as rendered from the same MIDI content (SHA-1; each finished piece is
recorded at once), so a rerun skips
finished pieces, renders the rest, and never trusts audio of a MIDI file that
has since changed. A folder holding audio
rendered with other settings is refused. A MIDI file that cannot be read (or
holds no notes, or would last longer than :data:`MAX_PIECE_SECONDS` once
rendered) is reported by name and reason and skipped. Notes held while their key
is struck again stop at the re-strike; the MIDI reader warns where that ends
a piece early. A failed write (a full disk) stops the run
with the file's name; an instrument folder that resolves outside the audio
folder (a symlink) is refused.

The folder's layout and its manifest are :mod:`timbre.formats.audio_folder`'s.

The split is by piece, seeded: 80/10/10 %, with at least one val and one test
piece once there are 3 pieces or more (fewer: all train).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from timbre.data import augment as augmentation
from timbre.data import midi
from timbre.data.fluid import PieceSynthesizer
from timbre.data.notebank import BankSet, NoteBank
from timbre.data.sources import SourcePool
from timbre.data.synth import NoteSynthesizer, at_headroom, substitution_message, timing
from timbre.errors import DatasetError, MidiError, NoteBankError, TimbreError
from timbre.formats import audio_folder
from timbre.formats.audio_folder import SPLITS, piece_path, split_pieces
from timbre.formats.render_state import RenderState, midi_digest, record
from timbre.io import audio
from timbre.io.atomic import naming_failures, remove_temporaries, run_lock
from timbre.io.pool import check_jobs, run_jobs
from timbre.settings import AugmentConfig, SynthConfig

MAX_PIECE_SECONDS = 3600.0  # longer rendered pieces are refused (a stray note at 1e6 s would
# need 176 GB of samples); --max_seconds cuts a genuinely long piece


@dataclasses.dataclass(frozen=True)
class RenderSummary:
    """What one :func:`render_pairs` call did."""

    manifest: Path  # the manifest written
    rendered: list[str]  # pieces rendered by this call
    skipped: list[str]  # pieces already complete, left alone
    failed: dict[str, str]  # MIDI path -> reason, for files that could not be rendered
    seconds: float  # audio rendered by this call, per instrument, in seconds


def render_pairs(
    midi_path: str | os.PathLike,
    audios_path: str | os.PathLike,
    banks: BankSet,
    config: SynthConfig | None = None,
    *,
    pools: Sequence[SourcePool] = (),
    augment: AugmentConfig | None = None,
    jobs: int | None = None,
    seed: int = 0,
    progress: bool = True,
) -> RenderSummary:
    """Render every MIDI file under ``midi_path`` with every instrument of ``banks``.

    An instrument with a pool in ``pools`` is rendered, piece by piece, by the
    source its pool draws for that piece (seeded by ``seed`` and the piece's
    name); the manifest records each piece's ``sources``. With ``augment``,
    the pooled instruments' parts are augmented as real recordings would be
    (:mod:`timbre.data.augment`, seeded likewise; recorded as ``augment``), in the pieces
    of the train split only: validation and the test pieces stay clean, as rendered. The
    split is made of every piece found before rendering; a piece that fails only leaves it.

    Args:
        midi_path: a folder searched recursively for ``.mid``/``.midi`` (any case), or one file.
        audios_path: output folder (created); a previous run's output there is resumed.
        banks: the instruments' note banks.
        pools: source pools replacing their instrument's bank (:mod:`timbre.data.sources`).
        config: synthesis settings (default ``SynthConfig()``).
        jobs: worker processes (default: all cores).
        seed: seed of the train/val/test split and of the pools' draws.
        progress: show a tqdm progress bar.

    Returns:
        The summary; ``failed`` is empty when every file was rendered.

    Raises:
        MidiError: no MIDI files found.
        DatasetError: ``audios_path`` holds audio rendered with other settings.
        BusyError: another run is writing ``audios_path``.
        NoteBankError: a pool for an instrument that ``banks`` does not have.
        ConfigError: ``jobs`` is not a positive integer.
    """
    config = config or SynthConfig()
    jobs = (os.cpu_count() or 1) if jobs is None else jobs
    check_jobs(jobs)
    files = midi.find_midi_files(midi_path)
    if not files:
        raise MidiError(
            f"{midi_path}: no MIDI files (expected .mid or .midi files, searched recursively)"
        )
    audios = Path(audios_path)
    pools = {pool.instrument: pool for pool in pools}
    strays = sorted(set(pools) - set(banks.instruments))
    if strays:
        raise NoteBankError(f"pools for {strays}: not among the instruments {banks.instruments}")
    header = {
        "synth": config.to_dict(),
        "note_bank": banks.describe(),
        "sample_rate": config.sample_rate,
        "instruments": banks.instruments,
    }
    if pools:
        header["pools"] = {name: pool.describe() for name, pool in pools.items()}
        header["draw_seed"] = seed
    if augment is not None:
        if not pools:
            raise NoteBankError("augment: applies to pooled instruments (expected pools)")
        header["augment"] = augment.to_dict()
        augmentation.require(augment)
    with run_lock(audios, "synthesize_audios.py (render_pairs)"):
        folders = [audio_folder.instrument_folder(audios, i) for i in banks.instruments]
        remove_temporaries([audios, *folders])
        _check_previous(audios, header)
        names = midi.piece_names(files, midi_path)
        sources = {
            name: {instrument: pool.draw(name, seed) for instrument, pool in pools.items()}
            for name in names.values()
        }
        # the split of every piece found (a failed one only leaves its part), made before
        # rendering: augmentation is for the train part alone, so validation and the test
        # pieces evaluate.py scores stay clean
        planned = split_pieces(list(names.values()), seed)
        training = set(planned["train"])
        augments = {
            name: augmentation.draw(augment, name, seed)
            if augment is not None and name in training
            else None
            for name in names.values()
        }
        ledger = RenderState(audios, {names[path]: midi_digest(path) for path in files})
        done = [
            path
            for path, name in names.items()
            if ledger.trusted(name) and _complete(audios, banks.instruments, name)
        ]
        pending = [path for path in names if path not in set(done)]
        ledger.forget([names[path] for path in pending])
        _write_manifest(audios, header, {}, {s: [] for s in SPLITS}, {})
        try:
            setup = (banks, pools, config)
            results = _run(
                pending, names, ledger.digests, sources, augments, audios, setup, jobs, progress,
                ledger.add,
            )  # fmt: skip
        finally:
            ledger.save()
        seconds = {
            names[p]: audio.info(piece_path(audios, banks.instruments[0], names[p])).seconds
            for p in done
        }
        seconds.update({name: s for name, s, reason in results if reason is None})
        failed = {
            str(path): reason
            for path, (_, _, reason) in zip(pending, results)
            if reason is not None
        }
        split = {part: [name for name in planned[part] if name in seconds] for part in SPLITS}
        of = {name: part for part, members in split.items() for name in members}
        midi_of = {name: str(path) for path, name in names.items()}
        pieces = {
            name: {"midi": midi_of[name], "seconds": round(seconds[name], 6), "split": of[name]}
            | ({"sources": sources[name]} if pools else {})
            | ({"augment": augmentation.to_dict(augments[name])} if augment is not None else {})
            for name in sorted(seconds)
        }
        manifest = _write_manifest(audios, header, pieces, split, failed)
        rendered = [name for name, _, reason in results if reason is None]
        return RenderSummary(
            manifest,
            rendered,
            sorted(names[p] for p in done),
            failed,
            float(sum(seconds[name] for name in rendered)),
        )


def _write_manifest(audios: Path, *contents) -> Path:
    """:func:`timbre.formats.audio_folder.write`; a failed write (a full disk) names the
    manifest."""
    with naming_failures(audio_folder.manifest_path(audios)):
        return audio_folder.write(audios, *contents)


def _check_previous(audios: Path, header: dict) -> None:
    """Refuse to resume into a folder rendered with other settings."""
    old = audio_folder.read_previous(audios)
    if old is None:
        return
    old_bank, bank = old.get("note_bank"), header["note_bank"]
    old_bank = old_bank if isinstance(old_bank, dict) else {}
    key = "programs" if bank["source"] == "soundfont" else "presets"
    if not isinstance(old_bank.get(key), dict):
        old_bank = {**old_bank, key: {}}
    shared = set(old_bank[key]) & set(bank[key])
    differs = [
        what
        for what, same in [
            ("version", old.get("version") == audio_folder.VERSION),
            ("synth", old.get("synth") == header["synth"]),
            (
                "note bank",
                (old_bank.get("source"), old_bank.get("path")) == (bank["source"], bank["path"]),
            ),
            ("instrument choice", all(old_bank[key][k] == bank[key][k] for k in shared)),
            ("source pools", old.get("pools") == header.get("pools")),
            ("seed of the source draws", old.get("draw_seed") == header.get("draw_seed")),
            ("augmentation", old.get("augment") == header.get("augment")),
        ]
        if not same
    ]
    if differs:
        raise DatasetError(
            f"{audios}: holds audio rendered with other settings ({', '.join(differs)} differ); "
            "choose another --audios_path, or delete that folder to start over"
        )


def _complete(audios: Path, instruments: Sequence[str], name: str) -> bool:
    return all(piece_path(audios, instrument, name).is_file() for instrument in instruments)


def _run(
    pending: list[Path],
    names: dict[Path, str],
    digests: dict[str, str],
    sources: dict[str, dict[str, str]],
    augments: dict[str, augmentation.Augmentation | None],
    audios: Path,
    setup: tuple[BankSet, dict[str, SourcePool], SynthConfig],
    jobs: int,
    progress: bool,
    finished: Callable[[str], None],
) -> list[tuple[str, float | None, str | None]]:
    """Render ``pending`` pieces (in a pool when ``jobs > 1``); results in the order of ``pending``.

    ``finished(name)`` is called as each piece's files are all written.
    """
    tasks = [
        (names[path], str(path), str(audios), sources[names[path]], augments[names[path]])
        + (digests[names[path]],)
        for path in pending
    ]
    results, substitutions, notes = [], {}, []

    def broken(done: int, e: BaseException) -> TimbreError:
        return TimbreError(
            f"{audios}: a worker process died after {done} of {len(tasks)} pieces ({e}); "
            "finished pieces are kept and a rerun resumes; if memory ran out, use fewer --jobs"
        )

    outputs = run_jobs(
        _render_piece,
        tasks,
        jobs=jobs,
        desc="synthesizing",
        progress=progress,
        broken=broken,
        ordered=True,
        initializer=_init_worker,
        initargs=setup,
    )
    try:
        with contextlib.closing(outputs):
            for name, seconds, reason, subs, noted in outputs:
                results.append((name, seconds, reason))
                if reason is None:
                    finished(name)
                for instrument, pairs in subs.items():
                    substitutions.setdefault(instrument, {}).update(pairs)
                notes += noted
    finally:
        _SYNTHS.clear()
    if substitutions:
        warnings.warn(
            "; ".join(substitution_message(i, s) for i, s in substitutions.items()), stacklevel=3
        )
    for message in notes[:3]:  # the MIDI reader's warnings: the first three, then a count
        warnings.warn(message, stacklevel=3)
    if len(notes) > 3:
        warnings.warn(f"... and {len(notes) - 3} more MIDI warnings of that kind", stacklevel=3)
    return results


# per process: (instrument, source or "") -> synthesizer (with its note cache)
_SYNTHS: dict[tuple[str, str], NoteSynthesizer | PieceSynthesizer] = {}


def _init_worker(banks: BankSet, pools: dict[str, SourcePool], config: SynthConfig) -> None:
    _SYNTHS.clear()
    for name, bank in banks.banks.items():
        if name not in pools:
            _SYNTHS[(name, "")] = _synthesizer(bank, config)
    for name, pool in pools.items():
        for source, bank in pool.sources.items():
            _SYNTHS[(name, source)] = _synthesizer(bank, config)


def _synthesizer(bank: NoteBank, config: SynthConfig) -> NoteSynthesizer | PieceSynthesizer:
    """FluidSynth for SoundFont banks when ``config.renderer`` says so, else the note bank."""
    if config.renderer == "fluidsynth" and bank.soundfont_program is not None:
        return PieceSynthesizer(*bank.soundfont_program, config)
    return NoteSynthesizer(bank, config, warn=False)


def _render_piece(
    task: tuple[str, str, str, dict[str, str], augmentation.Augmentation | None, str],
) -> tuple[str, float | None, str | None, dict, list[str]]:
    """Render one piece with every instrument (pooled ones by the piece's drawn source).

    The pooled instruments' parts are augmented when the task carries a draw,
    then brought back to the configured peak. Once its files are written, the piece is
    recorded as finished from the MIDI content of SHA-1 ``digest``
    (:func:`timbre.formats.render_state.record`).

    Returns:
        ``(name, seconds, failure reason, substitutions, warnings)``: ``warnings`` are the MIDI
        reader's (re-issued by the caller: a worker process cannot show them).
    """
    name, midi_file, audios, drawn, augmented, digest = task
    synths = {
        instrument: synth
        for (instrument, source), synth in _SYNTHS.items()
        if source == drawn.get(instrument, "")
    }
    config = next(iter(synths.values())).config
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            score = midi.read(midi_file)
        noted = [str(w.message) for w in caught]
        seconds = timing(score, config)[2]
        if seconds > MAX_PIECE_SECONDS:
            return name, None, _too_long(midi_file, score, config, seconds), {}, []
        outputs = {instrument: synth.render(score) for instrument, synth in synths.items()}
    except TimbreError as e:
        return name, None, str(e), {}, []
    lengths = {out.size for out in outputs.values()}
    if lengths == {0}:
        return name, None, f"{midi_file}: no notes before the max_seconds cut", {}, noted
    if len(lengths) != 1:  # banks at different rates; never for one NSynth folder or SoundFont
        n = max(lengths)
        outputs = {k: np.pad(v, (0, n - v.size)) for k, v in outputs.items()}
    if augmented is not None:
        for instrument in drawn:
            outputs[instrument] = at_headroom(
                augmentation.apply(outputs[instrument], config.sample_rate, augmented),
                config.headroom_db,
            )
    for instrument, out in outputs.items():
        audio.save(piece_path(audios, instrument, name), out, config.sample_rate, config.subtype)
    record(Path(audios), name, digest)
    subs = {
        instrument: dict(synth.substitutions)
        for instrument, synth in synths.items()
        if synth.substitutions
    }
    return name, next(iter(outputs.values())).size / config.sample_rate, None, subs, noted


def _too_long(midi_file: str, score: midi.Score, config: SynthConfig, seconds: float) -> str:
    return (
        f"{midi_file}: would last {seconds:.6g} s once rendered (its last note ends at "
        f"{score.seconds:.6g} s, playback_speed {config.playback_speed:g}, duration_rate "
        f"{config.duration_rate:g}; expected at most {MAX_PIECE_SECONDS:.0f} s); "
        "cut it with --max_seconds"
    )
