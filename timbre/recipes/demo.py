"""The demo's recipe: its six stages, keyboard -> strings, or -> each target of a
multi-target preset (its presets: :mod:`timbre.recipes.presets`).

:func:`run` makes the whole pipeline on the embedded default data under one
output folder; every stage is resumable (a second run reuses what is done).
The stages tell what they do through a :class:`Report` (the command line
prints it); they print nothing themselves.

1. note banks (:func:`make_banks`), 2. the corpus rendered as pairs and
3. its features (:func:`make_data`), 4. training (:func:`train_model`),
5. conversion of the test pieces and a short melody (:func:`convert_examples`,
after :func:`render_held_out` has played the test pieces with the held-out
pianos), 6. evaluation (:func:`evaluate_sets`). With several targets the
conversions and evaluations of each go to a folder of its own, named by its
short name (``converted/guitar/``, ``eval/guitar/``; :func:`target_folders`).
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from timbre.data import corpus, notebank, render, sources
from timbre.dsp import stft as sp
from timbre.formats import audio_folder, instruments
from timbre.formats.feature_store import load_manifest
from timbre.formats.model_dir import ModelDir
from timbre.io import audio
from timbre.io.atomic import read_json, write_json
from timbre.recipes.presets import (
    CONDITIONS,
    EVAL_SETS,
    HELD_OUT,
    ORIGIN,
    PRESETS,
    Preset,
    synth_config,
)
from timbre.settings import FeatureConfig, SpectrogramConfig

PLOT_SECONDS = 12.0  # length of the spectrogram comparison PNGs
STAGES = 6  # number of stages :func:`run` goes through

# "Ode to Joy" (Beethoven), right hand over a simple bass: (beat, beats, pitch, velocity).
_MELODY = [
    (b, 1, p, 84) for b, p in enumerate([66, 66, 67, 69, 69, 67, 66, 64, 62, 62, 64, 66])
] + [(12, 1.5, 66, 90), (13.5, 0.5, 64, 70), (14, 2, 64, 80)]
_BASS = [(4 * bar, 4, pitch, 60) for bar, pitch in enumerate([50, 45, 50, 45])]


class Report(Protocol):
    """Where the stages tell what they do (the command line prints it)."""

    def stage(self, number: int, title: str) -> None:
        """Stage ``number`` (of :data:`STAGES`) begins: ``title`` says what it does."""

    def done(self, what: str, seconds: float) -> None:
        """The stage ended after ``seconds``; ``what`` says what it made."""


class Silent:
    """A :class:`Report` that keeps everything to itself."""

    def stage(self, number: int, title: str) -> None:
        pass

    def done(self, what: str, seconds: float) -> None:
        pass


SILENT = Silent()  # the stages' default report


@dataclasses.dataclass(frozen=True)
class Banks:
    """The demo's note banks: the target's, the training pianos and the held-out pianos."""

    banks: notebank.BankSet  # the targets (and ORIGIN, unused: the pools replace it)
    train: sources.SourcePool  # the pianos training hears
    held_out: sources.SourcePool  # the pianos only the evaluation plays


@dataclasses.dataclass(frozen=True)
class DemoResult:
    """What :func:`run` made, for the command line to point at."""

    model_dir: Path  # the trained model (curves.png, samples/, generator.keras)
    converted: list[Path]  # one folder per conversion: {input,converted,target}.wav + PNG
    summary: str  # every evaluation table, then the share of the gap closed for all four
    seconds: float  # wall-clock time of the whole run


def make_banks(out: Path, preset: Preset, progress: bool = True) -> Banks:
    """Render (once) every bank the demo uses into ``<out>/bank/<soundfont hash>/``.

    The targets (``string_acoustic``, ...) come from the General MIDI SoundFont inside
    ``pretty_midi``;
    ``keyboard_acoustic`` from the acoustic pianos of every SoundFont of the default
    pool (:mod:`timbre.data.sources`), those of :data:`HELD_OUT` kept out of training.
    """
    default = notebank.default_soundfont()
    cache = out / "bank"
    banks = notebank.prepare_soundfont_bank(
        cache / notebank.default_cache_dir(default).name,
        [ORIGIN, *preset.targets],
        pitches=preset.bank_pitches,
        progress=progress,
    )
    soundfonts = sources.default_soundfonts()
    pool = sources.soundfont_pool(
        ORIGIN, soundfonts, cache, progress=progress, pitches=preset.bank_pitches
    )
    stem = held_out_stem(soundfonts)
    held = [name for name in pool.sources if name.split(":")[0] == stem]
    return Banks(
        banks,
        pool.without(held),
        sources.SourcePool(ORIGIN, {name: pool.sources[name] for name in held}),
    )


def held_out_stem(soundfonts: Sequence[Path]) -> str:
    """The SoundFont whose pianos training never hears: :data:`HELD_OUT` where installed,
    else the last of ``soundfonts``."""
    return HELD_OUT if any(s.stem == HELD_OUT for s in soundfonts) else soundfonts[-1].stem


def make_data(
    out: Path, preset: Preset, jobs: int, seed: int, report: Report = SILENT
) -> tuple[Path, Banks]:
    """Stages 1-3: the note banks, the corpus rendered as pairs, and its features.

    Returns:
        ``(<out>/features, the banks)``; the audio is in ``<out>/audios/``.
    """
    begin = begin_stage(
        report,
        1,
        f"note banks: {', '.join(preset.targets)} and the pianos of the pool (FluidSynth)",
    )
    banks = make_banks(out, preset)
    end_stage(
        report,
        begin,
        f"training pianos: {', '.join(banks.train.sources)}; held out: "
        f"{', '.join(banks.held_out.sources)}; banks in {out / 'bank'}",
    )
    begin = begin_stage(
        report,
        2,
        f"corpus: {preset.corpus_minutes:g} minutes of generated keyboard music, rendered as pairs",
    )
    midi_folder = out / "audios" / "midi"
    corpus.write_corpus(midi_folder, preset.corpus_minutes, seed)
    summary = render.render_pairs(
        midi_folder,
        out / "audios",
        banks.banks,
        synth_config(preset),
        pools=[banks.train],
        augment=preset.augment,
        jobs=jobs,
        seed=seed,
    )
    end_stage(
        report,
        begin,
        f"{len(summary.rendered)} pieces rendered, {len(summary.skipped)} reused, "
        f"{len(summary.failed)} failed",
    )
    begin = begin_stage(report, 3, "features: normalised log-magnitude tiles")
    from timbre.data.features import compute_features

    features = out / "features"
    compute_features(
        out / "audios",
        features,
        instruments=[ORIGIN, *preset.targets],
        spectrogram=preset.spectrogram,
        features=FeatureConfig(overlap=preset.overlap),
        jobs=jobs,
    )
    end_stage(report, begin, f"tiles in {features}")
    return features, banks


def train_model(
    out: Path,
    features: Path,
    preset: Preset,
    minutes: float,
    report: Report = SILENT,
    prepare_tensorflow: Callable[[], None] | None = None,
    init_from: Path | None = None,
) -> Path:
    """Stage 4: train for at most ``minutes`` into ``<out>/model/`` (once: a finished run is
    marked with ``demo_complete.json`` and not trained again).

    Args:
        init_from: a model directory whose generator weights a fresh run starts from
            (:func:`timbre.tf.fit.start_from`).
        prepare_tensorflow: called just before training imports TensorFlow (the
            command line hides its start-up messages there); not called when the
            model is already trained.

    Returns:
        The model directory.
    """
    model_dir = out / "model"
    marker = model_dir / "demo_complete.json"
    begin = begin_stage(
        report,
        4,
        f"training: {preset.mode} mode, base_filters={preset.model.base_filters}, "
        f"{preset.train.mixed_precision}, budget {minutes:g} min",
    )
    if marker.exists() and ModelDir(model_dir).generator.exists():
        end_stage(
            report,
            begin,
            f"already trained ({read_json(marker)['epochs']} epochs); delete {marker} to train "
            "again",
        )
        return model_dir
    if prepare_tensorflow is not None:
        prepare_tensorflow()
    from timbre.tf.fit import train

    targets = list(preset.targets)
    result = train(
        features,
        model_dir,
        ORIGIN,
        targets if len(targets) > 1 else targets[0],
        init_from=init_from,
        mode=preset.mode,
        model=preset.model,
        config=preset.train,
        resume=True,
        max_minutes=minutes,
    )
    # how far the schedule got: a time-boxed cosine ends at its floor even when the machine
    # is busy and fewer epochs fit (timbre.tf.fit)
    last_lr = result.history[-1].get("gen_lr") if result.history else None
    share = None if last_lr is None else last_lr / preset.train.gen_lr
    write_json(
        marker,
        {"epochs": result.epochs_done, "minutes": minutes}
        | ({} if init_from is None else {"init_from": str(init_from)})
        | ({} if share is None else {"final_lr_share": round(share, 4)}),
    )
    schedule = "" if share is None else f", the learning rate down to {share:.0%} of its start"
    end_stage(
        report,
        begin,
        f"{result.epochs_done} of {preset.train.epochs} epochs{schedule}; curves in "
        f"{ModelDir(model_dir).curves}",
    )
    return model_dir


def target_folders(preset: Preset) -> dict[str, str]:
    """``target -> the folder of its conversions and evaluations``, under ``converted/`` and
    ``eval/``: the same folder (``""``) for a single target, else its short name (``guitar``)."""
    if len(preset.targets) == 1:
        return {preset.targets[0]: ""}
    return {target: instruments.short_name(target) for target in preset.targets}


def up_to_date(path: Path, model_dir: Path) -> bool:
    """True when ``path`` exists and was written after the model's generator (a rerun keeps it)."""
    generator = ModelDir(model_dir).generator
    return path.exists() and path.stat().st_mtime_ns > generator.stat().st_mtime_ns


def write_melody(out: Path) -> Path:
    """Write "Ode to Joy" over a simple bass as ``<out>/melody/midi/ode_to_joy.mid``.

    Returns:
        The MIDI folder.
    """
    beat = 0.5
    notes = [(b * beat, (b + n) * beat * 0.98, p, v) for b, n, p, v in _MELODY + _BASS]
    folder = out / "melody" / "midi"
    corpus.write_notes(folder / "ode_to_joy.mid", notes, bpm=60.0 / beat)
    return folder


def render_held_out(out: Path, features: Path, banks: Banks, preset: Preset) -> Path:
    """The test pieces again, their keyboard part played by the held-out pianos.

    Returns:
        ``<out>/held_out/``: ``<instrument>/<piece>.wav`` as any audio folder.
    """
    folder = out / "held_out"
    pieces = audio_folder.read(out / "audios")["pieces"]
    for piece in load_manifest(features).split["test"]:
        midi_copy = folder / "midi" / f"{piece}.mid"
        if not midi_copy.exists():
            midi_copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(pieces[piece]["midi"], midi_copy)
    render.render_pairs(
        folder / "midi",
        folder,
        banks.banks,
        synth_config(preset),
        pools=[banks.held_out],
        jobs=1,
        progress=False,
    )
    return folder


def convert_examples(
    out: Path,
    model_dir: Path,
    features: Path,
    banks: Banks,
    preset: Preset,
    report: Report = SILENT,
) -> list[Path]:
    """Stage 5: convert the test pieces and the melody (played by a held-out piano).

    Each goes to ``<out>/converted/<piece>/{input,converted,target}.wav`` with
    ``spectrograms.png`` (several targets: ``<out>/converted/<short name>/<piece>/`` for
    each); a folder written after the model is kept.

    Returns:
        The folders, the melody's last.
    """
    begin = begin_stage(
        report, 5, "conversion: test pieces and a short melody on a piano training never heard"
    )
    from timbre.convert.converter import load_converter

    render.render_pairs(
        write_melody(out),
        out / "melody",
        banks.banks,
        synth_config(preset),
        pools=[banks.held_out],
        jobs=1,
        progress=False,
    )
    pieces = [(out / "audios", piece) for piece in load_manifest(features).split["test"]]
    pieces += [(out / "melody", piece) for piece in audio_folder.read(out / "melody")["pieces"]]
    folders = []
    for target, sub in target_folders(preset).items():
        converter = None
        for audios, piece in pieces:
            folder = out / "converted" / sub / piece
            folders.append(folder)
            if up_to_date(folder / "spectrograms.png", model_dir):
                continue
            converter = converter or load_converter(model_dir, target=target if sub else None)
            converter.convert_file(
                audio_folder.piece_path(audios, ORIGIN, piece), folder / "converted.wav"
            )
            _write_comparison(audios, piece, folder, preset.spectrogram, target)
    end_stage(report, begin, f"{len(folders)} conversions in {out / 'converted'}")
    return folders


def _write_comparison(
    audios: Path, piece: str, folder: Path, config: SpectrogramConfig, target: str
) -> None:
    """``input.wav`` and ``target.wav`` beside ``converted.wav``, and the three spectrograms."""
    from timbre.plotting import save_figure, spectrogram_figure

    panels = []
    for label, path in (
        ("input", audio_folder.piece_path(audios, ORIGIN, piece)),
        ("converted", folder / "converted.wav"),
        ("target", audio_folder.piece_path(audios, target, piece)),
    ):
        samples, _ = audio.load(path, config.sample_rate)
        if label != "converted":
            audio.save(folder / f"{label}.wav", samples, config.sample_rate)
        shown = samples[: int(PLOT_SECONDS * config.sample_rate)]
        panels.append(
            (
                f"{label}: {path.parent.name if label != 'converted' else 'model'}",
                sp.log_spectrogram(shown, config)[0],
            )
        )
    save_figure(
        spectrogram_figure(panels, config, title=f"{piece}: {ORIGIN} -> {target}"),
        folder / "spectrograms.png",
    )


def evaluate_sets(
    out: Path,
    model_dir: Path,
    features: Path,
    held_out: Path,
    preset: Preset,
    report: Report = SILENT,
) -> str:
    """Stage 6: score both sets of test pieces (:data:`EVAL_SETS`) in every condition
    (:data:`CONDITIONS`: clean, as recordings arrive, recorded) into
    ``<out>/eval/<set>/<condition>/`` (several targets: each target's in
    ``<out>/eval/<short name>/<set>/<condition>/``); results written after the model are kept.

    Returns:
        The report: each table, then the headline figures of all six
        (:func:`timbre.evaluate.report.headline_table`: LSD and spectral-convergence gap
        closed, flatness ratio and its gap closed).
    """
    begin = begin_stage(report, 6, "evaluation on the test pieces: model vs identity vs oracle")
    from timbre.evaluate.report import headline_table
    from timbre.evaluate.scoring import EvalConfig, evaluate

    tables, rows = [], []
    for target, sub in target_folders(preset).items():
        inputs = {
            "training_pianos": {"features_path": features},
            "held_out_piano": {"origin_dir": held_out / ORIGIN, "target_dir": held_out / target},
        }
        for name, source in inputs.items():
            pieces = f"{sub}: {EVAL_SETS[name]}" if sub else EVAL_SETS[name]
            for condition, label in CONDITIONS.items():
                folder = out / "eval" / sub / name / condition
                if not up_to_date(folder / "results.json", model_dir):
                    # Griffin-Lim (slow) is compared on the first target's main table only
                    both = (name, condition, target) == (
                        "training_pianos",
                        "clean",
                        preset.targets[0],
                    )
                    config = EvalConfig(phase="both" if both else "input", condition=condition)
                    evaluate(
                        model_dir,
                        output_dir=folder,
                        config=config,
                        target=target if sub else None,
                        **source,
                    )
                table = (folder / "results.md").read_text()
                tables.append(f"{pieces}, {label} ({folder}):\n{table}")
                rows.append((pieces, label, read_json(folder / "results.json")))
    end_stage(report, begin, f"results in {out / 'eval'}")
    summary = [
        "The share of the identity-to-oracle gap the model closes, and its flatness ratio "
        "(output / target, best at 1x; above 1 a haze fills the space between the harmonics):",
        "",
        headline_table(rows),
    ]
    return "\n".join(tables) + "\n" + "\n".join(summary)


def run(
    out: Path,
    preset: Preset,
    *,
    minutes: float,
    jobs: int,
    seed: int = 0,
    report: Report = SILENT,
    prepare_tensorflow: Callable[[], None] | None = None,
    init_from: Path | None = None,
) -> DemoResult:
    """Every stage in turn into ``out``, resumable.

    Args:
        out: folder for everything the demo writes.
        preset: what to make (one of :data:`PRESETS`).
        minutes: training budget.
        jobs: worker processes of synthesis and features.
        seed: seed of the corpus and the split.
        report: where each stage says what it does.
        prepare_tensorflow: see :func:`train_model`.
        init_from: a model directory whose generator weights training starts from
            (:func:`train_model`); without it, a preset that starts from another
            (``preset.start_from``) trains that one first, data and all, in
            ``<out>/<its name>/`` (its data and training stages only), with the same budget.
    """
    begin = time.perf_counter()
    if init_from is None and preset.start_from is not None:
        first, first_out = PRESETS[preset.start_from], out / preset.start_from
        first_features, _ = make_data(first_out, first, jobs, seed, report)
        init_from = train_model(
            first_out, first_features, first, minutes, report, prepare_tensorflow
        )
    features, banks = make_data(out, preset, jobs, seed, report)
    model_dir = train_model(
        out, features, preset, minutes, report, prepare_tensorflow, init_from=init_from
    )
    held_out = render_held_out(out, features, banks, preset)
    folders = convert_examples(out, model_dir, features, banks, preset, report)
    summary = evaluate_sets(out, model_dir, features, held_out, preset, report)
    return DemoResult(model_dir, folders, summary, time.perf_counter() - begin)


def begin_stage(report: Report, number: int, title: str) -> float:
    """Tell ``report`` that stage ``number`` begins; returns the time it began."""
    report.stage(number, title)
    return time.perf_counter()


def end_stage(report: Report, begin: float, what: str) -> None:
    """Tell ``report`` what the stage begun at ``begin`` made, and how long it took."""
    report.done(what, time.perf_counter() - begin)
