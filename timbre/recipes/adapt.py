"""``timbre adapt``: fine-tune a model on a user's own recordings of its origin instrument.

"Make my piano work": the recordings (their piano, room and microphone) are transcribed
and the transcriptions played by the model's targets (:mod:`timbre.data.own`), which gives
pairs of the user's real sound and the target's. Training starts from the model's weights
(:func:`timbre.tf.fit.start_from`) on those pairs mixed with ``mix_minutes`` of the
generated corpus rendered as the model learnt it (so it does not forget the pianos it
knew), and the held-out recordings score the model before and after. Stages, each
resumable, in ``<out>/``:

1. ``audios/``: the recordings' pairs, with ``synthetic__*`` pieces (training split only)
   linked from ``synthetic/audios/`` (the corpus's pairs);
2. ``features/``: their tiles;
3. ``model/``: the adapted model (``generator.keras``, ``generator.onnx``, ``config.json``);
4. ``eval/before/`` and ``eval/after/``: the held-out recordings scored against the rendering
   of their transcription, and ``report.md`` comparing the two.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path

from timbre.data import corpus, notebank, render
from timbre.data.own import OwnPairsConfig, pairs_from_recordings
from timbre.errors import ConfigError
from timbre.formats import audio_folder, instruments
from timbre.formats.model_dir import ModelDir, ModelInfo, read_model_info
from timbre.io.atomic import read_json
from timbre.recipes import demo
from timbre.recipes.presets import ORIGIN, PRESETS
from timbre.settings import FeatureConfig, SynthConfig

SYNTHETIC = "synthetic__"  # prefix of the corpus's pieces in <out>/audios


@dataclasses.dataclass(frozen=True)
class AdaptConfig:
    """What adaptation trains on and for how long."""

    minutes: float = 20.0  # training budget (the cosine follows the clock)
    epochs: int = 40  # at most, of steps_per_epoch steps
    steps_per_epoch: int = 50
    gen_lr: float = 1e-4  # a fifth of the recipe's: the model starts trained
    mix_minutes: float = 10.0  # generated music mixed in (0: none)
    pairs: OwnPairsConfig = OwnPairsConfig()  # segments and the split by recording
    condition: str = "clean"  # how the held-out recordings reach the model when scored

    def __post_init__(self) -> None:
        if not self.minutes > 0 or self.epochs < 1 or self.steps_per_epoch < 1:
            raise ConfigError(
                f"AdaptConfig: minutes={self.minutes!r}, epochs={self.epochs!r}, "
                f"steps_per_epoch={self.steps_per_epoch!r} (expected positive)"
            )
        if self.mix_minutes < 0:
            raise ConfigError(f"AdaptConfig: mix_minutes={self.mix_minutes!r} (expected >= 0)")


def players(info: ModelInfo) -> dict[str, tuple[Path, int]]:
    """Each target of the model played as its training played it: TimGM6mb's GM program."""
    targets = info.targets or (info.target,)
    soundfont = notebank.default_soundfont()
    return {t: (soundfont, notebank.GM_PROGRAMS[t]) for t in targets}


def make_pairs(
    recordings: Path, out: Path, info: ModelInfo, config: AdaptConfig, jobs: int, progress: bool
) -> Path:
    """Stage 1: ``<out>/audios`` (module docstring)."""
    synth = SynthConfig(sample_rate=info.spectrogram.sample_rate, renderer="fluidsynth")
    audios = out / "audios"
    pairs_from_recordings(
        recordings, audios, ORIGIN, players(info), synth, config.pairs, progress=progress
    )
    if config.mix_minutes > 0:
        _mix_in(audios, out / "synthetic", info, synth, config.mix_minutes, jobs, progress)
    return audios


def _mix_in(audios: Path, folder: Path, info, synth, minutes: float, jobs, progress) -> None:
    """Render ``minutes`` of the generated corpus with the pool's pianos and the model's
    targets, and link its training pieces into ``audios`` (its manifest extended)."""
    targets = tuple(players(info))
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
    config: AdaptConfig,
    prepare_tensorflow: Callable[[], None] | None = None,
) -> Path:
    """Stage 3: train ``<out>/model`` from ``base``'s weights and settings (resumable)."""
    base_config = read_json(ModelDir(info.directory).config)
    train = {
        **base_config["train"],
        "epochs": config.epochs,
        "steps_per_epoch": config.steps_per_epoch,
        "gen_lr": config.gen_lr,
        "lr_decay": "cosine",
    }
    if prepare_tensorflow is not None:
        prepare_tensorflow()
    from timbre.tf.fit import train as fit

    targets = list(info.targets) or info.target
    fit(
        features,
        out / "model",
        ORIGIN,
        targets,
        mode=base_config.get("mode", "generator"),
        model=base_config["model"],
        config=train,
        resume=True,
        max_minutes=config.minutes,
        init_from=base,
    )
    return out / "model"


def score(model: Path, features: Path, folder: Path, info: ModelInfo, config: AdaptConfig):
    """Stage 4: ``{target: EvalResults}`` of ``model`` on the held-out recordings."""
    from timbre.evaluate.scoring import EvalConfig, evaluate

    eval_config = EvalConfig(condition=config.condition)
    return {
        target: evaluate(
            model,
            features_path=features,
            output_dir=folder / instruments.short_name(target),
            config=eval_config,
            progress=False,
            target=target if info.targets else None,
        )[0]
        for target in (info.targets or (info.target,))
    }


def report_table(before: dict, after: dict, minutes_of_music: float) -> str:
    """The before/after table of ``report.md``: per target, the gap closed in LSD and SC,
    the flatness ratio and the notes kept."""
    lines = [
        f"Held-out recordings, scored against the rendering of their transcription; "
        f"{minutes_of_music:.1f} minutes of your music used for training.",
        "",
        "| target | model | LSD gap closed | SC gap closed | flatness ratio | notes kept |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for target in before:
        for name, results in (("before", before[target]), ("after", after[target])):
            gaps, mean = results.gap_closed["model"], results.mean["model"]
            lines.append(
                f"| {instruments.short_name(target)} | {name} | {gaps['lsd_db']:.1%} | "
                f"{gaps['sc']:.1%} | {mean['flatness_ratio']:.2f}x | {mean['notes_kept']:.2f} |"
            )
    return "\n".join(lines).replace("nan%", "n/a") + "\n"


def adapt(
    recordings: str | os.PathLike,
    out: str | os.PathLike,
    base: Path,
    config: AdaptConfig = AdaptConfig(),
    *,
    jobs: int = 1,
    report: demo.Report = demo.SILENT,
    prepare_tensorflow: Callable[[], None] | None = None,
    progress: bool = True,
) -> Path:
    """Every stage in turn (module docstring); returns ``<out>/report.md``.

    Args:
        recordings: a folder of recordings of the model's origin instrument.
        out: working folder (resumable).
        base: the model directory to start from.
        config: budgets and the split.
        jobs, report, prepare_tensorflow: as :func:`timbre.recipes.demo.run`.
        progress: progress bars.

    Raises:
        ConfigError: a model whose origin is not the keyboard.
        DatasetError: as :func:`timbre.data.own.pairs_from_recordings`.
    """
    from timbre.data.features import compute_features
    from timbre.io.atomic import atomic_path

    info = read_model_info(base)
    if info.origin != ORIGIN:
        raise ConfigError(f"{base}: converts from {info.origin} (expected {ORIGIN})")
    out = Path(out)
    begin = demo.begin_stage(
        report, 1, "pairs: your recordings transcribed, their notes played by the targets"
    )
    audios = make_pairs(Path(recordings), out, info, config, jobs, progress)
    pieces = audio_folder.read(audios)["pieces"]
    own = {p: e for p, e in pieces.items() if not p.startswith(SYNTHETIC)}
    minutes = sum(e["seconds"] for e in own.values() if e["split"] == "train") / 60
    demo.end_stage(
        report,
        begin,
        f"{len(own)} pieces of your recordings ({minutes:.1f} min to train on), "
        f"{len(pieces) - len(own)} of generated music",
    )
    begin = demo.begin_stage(report, 2, "features")
    compute_features(
        audios,
        out / "features",
        spectrogram=info.spectrogram,
        features=FeatureConfig(overlap=0),
        jobs=jobs,
        progress=progress,
    )
    demo.end_stage(report, begin, f"tiles in {out / 'features'}")
    begin = demo.begin_stage(report, 3, f"training from {base}, at most {config.minutes:g} minutes")
    model = fine_tune(out / "features", out, base, info, config, prepare_tensorflow)
    demo.end_stage(report, begin, f"the adapted model in {model}")
    begin = demo.begin_stage(report, 4, "evaluation on the held-out recordings, before and after")
    before = score(base, out / "features", out / "eval" / "before", info, config)
    after = score(model, out / "features", out / "eval" / "after", info, config)
    path = out / "report.md"
    with atomic_path(path) as tmp:
        tmp.write_text("# Adapted to your recordings\n\n" + report_table(before, after, minutes))
    demo.end_stage(report, begin, f"the report in {path}")
    return path
