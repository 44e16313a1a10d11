"""``timbre adapt``: a model fine-tuned on a user's own recordings, with no MIDI and no pairs.

Two directions, one mechanism (:mod:`timbre.data.own`: transcribe, then render the
transcription):

- "make my piano work" (``instrument=None``): recordings of the model's origin instrument
  (the user's piano, room and microphone) are transcribed and the transcriptions played by
  the model's targets, which gives pairs of the user's real sound and the targets'.
  Training starts from the model's weights (:func:`timbre.tf.fit.start_from`) on those
  pairs mixed with ``mix_minutes`` of the generated corpus rendered as the model learnt it
  (so it does not forget the pianos it knew);
- "make it sound like my cello" (``instrument="cello"``): recordings of a new target are
  transcribed and the transcriptions played by the pool's pianos (one drawn per piece,
  the held-out SoundFont left out), which gives pairs of a rendered piano and the user's
  instrument. The model is a new one-target model (``keyboard_acoustic -> cello``) that
  starts from the base's weights (its U-Net; a conditioning it no longer needs is left
  behind); no generated music is mixed in, since the base's targets are not its targets.

The held-out recordings score the model before (where the base has the target) and
after. Stages, each resumable, in ``<out>/``:

1. ``audios/``: the recordings' pairs, with ``synthetic__*`` pieces (training split only)
   linked from ``synthetic/audios/`` (the corpus's pairs);
2. ``features/``: their tiles;
3. ``model/``: the adapted model (``generator.keras``, ``generator.onnx``, ``config.json``),
   which ``predict.py --model`` and the API load like any other;
4. ``eval/before/`` and ``eval/after/``: the held-out recordings scored against the rendering
   of their transcription; ``before_after.png``: one held-out excerpt, its spectrogram
   before and after; ``report.md`` comparing the two.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from timbre.data import corpus, notebank, render, sources
from timbre.data.own import OwnPairsConfig, pairs_from_recordings
from timbre.errors import ConfigError, DatasetError
from timbre.formats import audio_folder, instruments
from timbre.formats.model_dir import ModelDir, ModelInfo, read_model_info
from timbre.io.atomic import read_json
from timbre.recipes import demo
from timbre.recipes.presets import ORIGIN, PRESETS
from timbre.settings import FeatureConfig, SynthConfig

SYNTHETIC = "synthetic__"  # prefix of the corpus's pieces in <out>/audios
STAGES = 4  # number of stages :func:`adapt` goes through
NAME = re.compile(r"[a-z][a-z0-9-]{0,31}")  # a new target's name: lowercase, no underscore
Players = dict[str, list[tuple[Path, int]]]


@dataclasses.dataclass(frozen=True)
class AdaptConfig:
    """What adaptation trains on and for how long."""

    minutes: float = 15.0  # training budget (the cosine follows the clock)
    epochs: int = 40  # at most, of steps_per_epoch steps
    steps_per_epoch: int = 50
    gen_lr: float = 1e-4  # a fifth of the recipe's: the model starts trained on its targets
    new_target_lr: float = 3e-4  # for a target the base model lacks, learnt afresh
    # generated music mixed in (0: none; the origin direction only). On bench_adapt.py's
    # recorded piano 30 rather than 10 kept the report's gains and closed 2 to 3 points more
    # of the LSD gap against the true notes: fewer of the transcription's mistakes learnt.
    mix_minutes: float = 30.0
    min_minutes: float = 5.0  # of the user's music with notes, to train on, at least
    pairs: OwnPairsConfig = OwnPairsConfig()  # segments and the split by recording
    condition: str = "clean"  # how the held-out recordings reach the model when scored

    def __post_init__(self) -> None:
        if not self.minutes > 0 or self.epochs < 1 or self.steps_per_epoch < 1:
            raise ConfigError(
                f"AdaptConfig: minutes={self.minutes!r}, epochs={self.epochs!r}, "
                f"steps_per_epoch={self.steps_per_epoch!r} (expected positive)"
            )
        if self.mix_minutes < 0 or self.min_minutes < 0:
            raise ConfigError(
                f"AdaptConfig: mix_minutes={self.mix_minutes!r}, "
                f"min_minutes={self.min_minutes!r} (expected >= 0)"
            )


def check_instrument(name: str | None, info: ModelInfo) -> str | None:
    """``name`` as a new target's name (``None``: the recordings play the origin).

    Raises:
        ConfigError: a name that is not lowercase letters, digits and hyphens, or that
            means the model's origin.
    """
    if name is None:
        return None
    if not NAME.fullmatch(name):
        raise ConfigError(
            f"instrument name {name!r}: expected lowercase letters, digits and hyphens, "
            f"starting with a letter, at most 32 (cello, my-cello)"
        )
    if instruments.family(instruments.ALIASES.get(name, name)) == instruments.family(info.origin):
        raise ConfigError(
            f"instrument name {name!r}: means the origin, {info.origin} (adapt to recordings "
            f"of the origin without a name)"
        )
    return name


def check(
    recordings: str | os.PathLike, out: str | os.PathLike, base: Path, instrument: str | None
) -> ModelInfo:
    """What :func:`adapt` checks before any work (a command calls it before taking ``out``'s
    run lock); returns the base's :class:`ModelInfo`.

    Raises:
        ConfigError: a model whose origin is not the keyboard, a bad instrument name
            (:func:`check_instrument`), or ``out`` and ``recordings`` inside one another.
        ModelError: ``base`` is not a readable model directory.
    """
    info = read_model_info(base)
    if info.origin != ORIGIN:
        raise ConfigError(f"{base}: converts from {info.origin} (expected {ORIGIN})")
    check_instrument(instrument, info)
    recordings, out = Path(recordings).resolve(), Path(out).resolve()
    inside = out.is_relative_to(recordings)
    if inside or recordings.is_relative_to(out):
        raise ConfigError(
            f"{out}: {'inside' if inside else 'holds'} the recordings' folder {recordings} "
            f"(expected a working folder apart from them)"
        )
    return info


def target_players(info: ModelInfo) -> Players:
    """Each target of the model played as its training played it: TimGM6mb's GM program."""
    soundfont = notebank.default_soundfont()
    return {t: [(soundfont, notebank.GM_PROGRAMS[t])] for t in info.converts_to}


def piano_players() -> Players:
    """The origin played by the pool's pianos (:mod:`timbre.data.sources`), the held-out
    SoundFont's left out."""
    soundfonts = sources.default_soundfonts()
    stem = demo.held_out_stem(soundfonts)
    kept = [s for s in soundfonts if s.stem != stem] or soundfonts
    return {ORIGIN: [(s, p) for s in kept for p in sources.pool_programs(ORIGIN)]}


def make_pairs(
    recordings: Path,
    out: Path,
    info: ModelInfo,
    instrument: str | None,
    config: AdaptConfig,
    jobs: int,
    progress: bool,
) -> tuple[Path, float]:
    """Stage 1: ``<out>/audios`` (module docstring); returns it and the minutes of the
    user's music to train on.

    Raises:
        DatasetError: less than ``config.min_minutes`` of it.
    """
    synth = SynthConfig(sample_rate=info.spectrogram.sample_rate, renderer="fluidsynth")
    audios = out / "audios"
    played, players = (
        (ORIGIN, target_players(info)) if instrument is None else (instrument, piano_players())
    )
    pairs_from_recordings(
        recordings, audios, played, players, synth, config.pairs, progress=progress
    )
    pieces = audio_folder.read(audios)["pieces"]
    own = [e for p, e in pieces.items() if not p.startswith(SYNTHETIC)]
    minutes = sum(e["seconds"] for e in own if e["split"] == "train") / 60
    if minutes < config.min_minutes:
        held = len({e["recording"] for e in own if e["split"] != "train"})
        raise DatasetError(
            f"{recordings}: {minutes:.1f} min of music with notes to train on after holding "
            f"out {held} recording{'s' * (held != 1)} (expected at least "
            f"{config.min_minutes:g} min; about 30 is what adaptation is measured with)"
        )
    if instrument is None and config.mix_minutes > 0:
        _mix_in(audios, out / "synthetic", info, synth, config.mix_minutes, jobs, progress)
    return audios, minutes


def make_features(audios: Path, out: Path, info: ModelInfo, jobs: int, progress: bool) -> Path:
    """Stage 2: ``<out>/features``, the tiles of ``audios`` at the model's spectrogram
    (resumable); returns it."""
    from timbre.data.features import compute_features

    compute_features(
        audios,
        out / "features",
        spectrogram=info.spectrogram,
        features=FeatureConfig(overlap=0),
        jobs=jobs,
        progress=progress,
    )
    return out / "features"


def _mix_in(audios: Path, folder: Path, info, synth, minutes: float, jobs, progress) -> None:
    """Render ``minutes`` of the generated corpus with the pool's pianos and the model's
    targets, and link its training pieces into ``audios`` (its manifest extended)."""
    targets = tuple(target_players(info))
    preset = dataclasses.replace(PRESETS["tiny"], targets=targets)  # its few bank pitches
    banks = demo.make_banks(folder, preset, progress=progress)
    corpus.write_corpus(folder / "midi", minutes, 0)
    render.render_pairs(
        folder / "midi",
        folder / "audios",
        banks.banks,
        synth,
        pools=[banks.train],
        jobs=jobs,
        progress=progress,
    )
    mixed = audio_folder.read(folder / "audios")
    own = audio_folder.read(audios)
    names = {SYNTHETIC + piece: piece for piece in mixed["split"]["train"]}
    for name, piece in names.items():
        for instrument in own["instruments"]:
            _link(
                audio_folder.piece_path(folder / "audios", instrument, piece),
                audio_folder.piece_path(audios, instrument, name),
            )
        own["pieces"][name] = {**mixed["pieces"][piece], "split": "train"}
    own["split"]["train"] = sorted({*own["split"]["train"], *names})
    header = {k: v for k, v in own.items() if k not in ("version", "pieces", "split", "failed")}
    audio_folder.write(audios, header, own["pieces"], own["split"], own.get("failed", {}))


def _link(source: Path, destination: Path) -> None:
    """A hard link (or a copy where links fail) of a finished file; kept when there."""
    import shutil

    if destination.exists():
        return
    destination.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


def fine_tune(
    features: Path,
    out: Path,
    base: Path,
    info: ModelInfo,
    targets: list[str],
    config: AdaptConfig,
    prepare_tensorflow: Callable[[], None] | None = None,
) -> Path:
    """Stage 3: train ``<out>/model`` for ``targets`` from ``base``'s weights and settings
    (resumable), at ``config.gen_lr``, or ``config.new_target_lr`` where a target is not
    one of the base's, in bf16 where this machine computes it natively and float32 elsewhere
    (:mod:`timbre.tf.precision`)."""
    base_config = read_json(ModelDir(info.directory).config)
    train = {
        **base_config["train"],
        "epochs": config.epochs,
        "steps_per_epoch": config.steps_per_epoch,
        "gen_lr": config.gen_lr if set(targets) <= set(info.converts_to) else config.new_target_lr,
        "lr_decay": "cosine",
        # the base's precision suited the machine that trained it, not necessarily this one
        "mixed_precision": "auto",
    }
    if prepare_tensorflow is not None:
        prepare_tensorflow()
    from timbre.tf.fit import train as fit

    fit(
        features,
        out / "model",
        ORIGIN,
        targets if len(targets) > 1 else targets[0],
        mode=base_config.get("mode", "generator"),
        model=base_config["model"],
        config=train,
        resume=True,
        max_minutes=config.minutes,
        init_from=base,
    )
    return out / "model"


def model_targets(model: Path) -> tuple[str, ...]:
    """The targets ``model`` converts to."""
    return read_model_info(model).converts_to


def score(model: Path, features: Path, folder: Path, targets: list[str], config: AdaptConfig):
    """Stage 4: ``{target: EvalResults}`` of ``model`` on the held-out recordings, for those
    of ``targets`` it has."""
    from timbre.evaluate.scoring import EvalConfig, evaluate

    eval_config = EvalConfig(condition=config.condition)
    has = model_targets(model)
    return {
        target: evaluate(
            model,
            features_path=features,
            output_dir=folder / instruments.short_name(target),
            config=eval_config,
            progress=False,
            target=target if len(has) > 1 else None,
        )[0]
        for target in targets
        if target in has
    }


def report_table(before: dict, after: dict, minutes_of_music: float, condition: str) -> str:
    """The before/after table of ``report.md``: per target, the gap closed in LSD and SC,
    the flatness ratio and the notes kept (a target the start has not: after alone)."""
    lines = [
        f"Held-out recordings ({condition} condition), scored against the rendering of their "
        f"transcription; {minutes_of_music:.1f} minutes of your music used for training.",
        "",
        "| target | model | LSD gap closed | SC gap closed | flatness ratio | notes kept |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for target in after:
        rows = [("before", before[target])] if target in before else []
        for name, results in (*rows, ("after", after[target])):
            gaps, mean = results.gap_closed["model"], results.mean["model"]
            lines.append(
                f"| {instruments.short_name(target)} | {name} | {gaps['lsd_db']:.1%} | "
                f"{gaps['sc']:.1%} | {mean['flatness_ratio']:.2f}x | {mean['notes_kept']:.2f} |"
            )
    new = [instruments.short_name(t) for t in after if t not in before]
    if new:
        lines += [
            "",
            f"The model adaptation started from has no {', '.join(new)}: the gap closed is the "
            f"share of the input's distance to your recordings that the conversion took away.",
        ]
    return "\n".join(lines).replace("nan%", "n/a") + "\n"


def excerpt_panels(
    audios: Path, piece: str, base: Path, model: Path, target: str
) -> list[tuple[str, np.ndarray]]:
    """The first seconds of held-out ``piece``, labelled: the origin's side (the user's
    recording, or the rendered piano for a new target), as the start (where it has
    ``target``) and the adapted model convert it, and the target's side (the rendering of
    the transcription, or the user's recording)."""
    from timbre.convert.converter import load_converter
    from timbre.io import audio

    rate = read_model_info(model).spectrogram.sample_rate
    excerpt = int(demo.PLOT_SECONDS * rate)
    yours = audio_folder.read(audios)["instruments"][0] == ORIGIN  # the recordings' side
    samples, _ = audio.load(audio_folder.piece_path(audios, ORIGIN, piece), rate)
    truth, _ = audio.load(audio_folder.piece_path(audios, target, piece), rate)
    panels = [("input: " + ("your recording" if yours else "a rendered piano"), samples[:excerpt])]
    for name, directory in ((f"before: {base.name}", base), ("after: adapted", model)):
        has = model_targets(directory)
        if target in has:
            converter = load_converter(directory, target=target if len(has) > 1 else None)
            panels.append((name, converter.convert(samples[:excerpt], rate)))
    label = "target: " + ("its transcription played" if yours else "your recording")
    return [*panels, (label, truth[:excerpt])]


def before_after_figure(
    audios: Path, piece: str, base: Path, model: Path, target: str, path: Path
) -> Path:
    """``path``: the spectrograms of :func:`excerpt_panels`."""
    from timbre.dsp import stft as sp
    from timbre.plotting import save_figure, spectrogram_figure

    config = read_model_info(model).spectrogram
    panels = excerpt_panels(audios, piece, base, model, target)
    spectrograms = [(label, sp.log_spectrogram(x, config)[0]) for label, x in panels]
    title = f"{piece}: {instruments.short_name(ORIGIN)} -> {instruments.short_name(target)}"
    save_figure(spectrogram_figure(spectrograms, config, title=title), path)
    return path


def adapt(
    recordings: str | os.PathLike,
    out: str | os.PathLike,
    base: Path,
    config: AdaptConfig = AdaptConfig(),
    *,
    instrument: str | None = None,
    jobs: int = 1,
    report: demo.Report = demo.SILENT,
    prepare_tensorflow: Callable[[], None] | None = None,
    progress: bool = True,
) -> Path:
    """Every stage in turn (module docstring); returns ``<out>/report.md``.

    Args:
        recordings: a folder of recordings of the model's origin (``instrument=None``) or of
            a new target.
        out: working folder (resumable); neither inside ``recordings`` nor holding it.
        base: the model directory to start from.
        config: budgets and the split.
        instrument: the name of the recordings' instrument when it is a new target
            (``cello``); ``None`` when they play the model's origin.
        jobs, report, prepare_tensorflow: as :func:`timbre.recipes.demo.run`.
        progress: progress bars.

    Raises:
        ConfigError, ModelError: as :func:`check`.
        DatasetError: as :func:`timbre.data.own.pairs_from_recordings`, or too little music.
    """
    from timbre.io.atomic import atomic_path

    info = check(recordings, out, base, instrument)
    recordings, out = Path(recordings), Path(out)
    targets = list(model_targets(base)) if instrument is None else [instrument]
    played = "the model's targets" if instrument is None else "the pool's pianos"
    begin = demo.begin_stage(
        report, 1, f"pairs: your recordings transcribed, their notes played by {played}"
    )
    audios, minutes = make_pairs(recordings, out, info, instrument, config, jobs, progress)
    pieces = audio_folder.read(audios)["pieces"]
    own = [p for p in pieces if not p.startswith(SYNTHETIC)]
    demo.end_stage(
        report,
        begin,
        f"{len(own)} pieces of your recordings ({minutes:.1f} min to train on), "
        f"{len(pieces) - len(own)} of generated music",
    )
    begin = demo.begin_stage(report, 2, "features")
    make_features(audios, out, info, jobs, progress)
    demo.end_stage(report, begin, f"tiles in {out / 'features'}")
    begin = demo.begin_stage(report, 3, f"training from {base}, at most {config.minutes:g} minutes")
    model = fine_tune(out / "features", out, base, info, targets, config, prepare_tensorflow)
    demo.end_stage(report, begin, f"the adapted model in {model}")
    begin = demo.begin_stage(report, 4, "evaluation on the held-out recordings, before and after")
    before = score(base, out / "features", out / "eval" / "before", targets, config)
    after = score(model, out / "features", out / "eval" / "after", targets, config)
    held = sorted(p for p in own if pieces[p]["split"] == "test")
    figure = out / "before_after.png"
    if held and not demo.up_to_date(figure, model):
        before_after_figure(audios, held[0], base, model, targets[0], figure)
    path = out / "report.md"
    with atomic_path(path) as tmp:
        tmp.write_text(
            "# Adapted to your recordings\n\n"
            + report_table(before, after, minutes, config.condition)
            + f"\n![one held-out excerpt before and after]({figure.name})\n"
        )
    demo.end_stage(report, begin, f"the report in {path}")
    return path
