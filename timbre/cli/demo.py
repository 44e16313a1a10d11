"""`make demo`: the whole pipeline on the embedded default data, keyboard -> strings.

Stages, each resumable (a second run reuses what is done and finishes quickly):

1. note banks, rendered with FluidSynth -> ``<out>/bank/``: ``string_acoustic``
   from the General MIDI SoundFont inside ``pretty_midi``; ``keyboard_acoustic``
   from the acoustic pianos of every SoundFont of the default pool
   (:mod:`timbre.data.sources`). One SoundFont's pianos (:data:`HELD_OUT`)
   are kept out of training: the evaluation plays the test pieces with them too.
2. corpus: a generated MIDI corpus -> ``<out>/audios/midi/``, rendered as
   aligned pairs -> ``<out>/audios/<instrument>/<piece>.wav``, each piece's
   keyboard part by a piano drawn from the training pool
3. features -> ``<out>/features/``
4. training: a CPU-sized model for a wall-clock budget -> ``<out>/model/``
   (``curves.png``, ``samples/``, ``generator.keras``); a finished run is
   marked with ``demo_complete.json`` and not trained again
5. conversion of the held-out test pieces and of a separate short melody ->
   ``<out>/converted/<piece>/{input,converted,target}.wav`` + ``spectrograms.png``
6. evaluation (model vs identity vs oracle) of the test pieces played by the
   training pianos and by the held-out pianos, each clean and "as recordings
   arrive" -> ``<out>/eval/{training_pianos,held_out_piano}/{clean,excerpt}/``
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from timbre.cli.common import positive_int, run, start_tensorflow
from timbre.data import corpus, notebank, render, sources
from timbre.dsp import stft as sp
from timbre.formats import audio_folder
from timbre.formats.feature_store import load_manifest
from timbre.formats.model_dir import ModelDir
from timbre.io import audio
from timbre.io.atomic import read_json, write_json
from timbre.settings import (
    AugmentConfig,
    FeatureConfig,
    ModelConfig,
    SpectrogramConfig,
    SynthConfig,
    TrainConfig,
)

ORIGIN, TARGET = "keyboard_acoustic", "string_acoustic"
# The SoundFont whose pianos training never hears (Csound's GM bank, from csound-soundfont);
# without it installed, the last SoundFont of the pool is held out instead.
HELD_OUT = "sf_GMbank"
PLOT_SECONDS = 12.0  # length of the spectrogram comparison PNGs

# "Ode to Joy" (Beethoven), right hand over a simple bass: (beat, beats, pitch, velocity).
_MELODY = [
    (b, 1, p, 84) for b, p in enumerate([66, 66, 67, 69, 69, 67, 66, 64, 62, 62, 64, 66])
] + [(12, 1.5, 66, 90), (13.5, 0.5, 64, 70), (14, 2, 64, 80)]
_BASS = [(4 * bar, 4, pitch, 60) for bar, pitch in enumerate([50, 45, 50, 45])]


@dataclasses.dataclass(frozen=True)
class Preset:
    """Everything the demo chooses; ``cpu`` is the real demo, ``tiny`` the seconds-long test run."""

    spectrogram: SpectrogramConfig
    model: ModelConfig
    train: TrainConfig
    mode: str  # "gan" (pix2pix) or "generator" (L1 only)
    corpus_minutes: float  # generated music, per instrument
    bank_pitches: tuple[int, ...]  # pitches rendered into the note bank
    overlap: int  # training tile overlap, frames
    renderer: str = "notes"  # SynthConfig.renderer: "notes" (bank) or "fluidsynth" (whole pieces)
    augment: AugmentConfig | None = None  # augmentation of the keyboard part; None: none


# Tuning record (README, "Tuning the demo"): L1 only; no dropout (pix2pix's dropout is the GAN's
# noise source and only slows L1 fitting); Adam 5e-4 with beta_1 0.9, decayed along a cosine over
# 50 epochs (what 10 minutes hold on a 2-core CPU since the input pipeline runs without tf.data's
# autotuning); bf16; 90 minutes of generated music, rendered whole by FluidSynth (pedal, release
# and notes held as long as the music holds them: trial 12).
CPU = Preset(
    SpectrogramConfig(),
    ModelConfig(base_filters=16, dropout=0.0),
    TrainConfig(
        batch_size=8,
        epochs=50,
        steps_per_epoch=100,
        gen_lr=5e-4,
        beta_1=0.9,
        mixed_precision="bf16",
        lr_decay="cosine",
    ),
    mode="generator",
    corpus_minutes=90.0,
    bank_pitches=tuple(range(21, 109)),
    overlap=128,
    renderer="fluidsynth",
)
PRESETS = {
    "cpu": CPU,
    # The shipped model (``make pretrained``, timbre/pretrained/<name>/MODEL_CARD.md): the
    # demo's recipe with twice the music and 150 epochs.
    "pretrained": dataclasses.replace(
        CPU, train=dataclasses.replace(CPU.train, epochs=150), corpus_minutes=180.0
    ),
    "tiny": Preset(
        SpectrogramConfig(sample_rate=16000, n_fft=256, hop_length=128, n_bins=32, tile_frames=32),
        ModelConfig(base_filters=4, depth=5),
        TrainConfig(batch_size=4, epochs=2, steps_per_epoch=3),
        mode="gan",
        corpus_minutes=1.5,
        bank_pitches=tuple(range(36, 97, 6)),
        overlap=0,
    ),
}


def _synth_config(preset: Preset) -> SynthConfig:
    return SynthConfig(sample_rate=preset.spectrogram.sample_rate, renderer=preset.renderer)


def _stage(number: int, title: str) -> float:
    print(f"\n[{number}/6] {title}", flush=True)
    return time.perf_counter()


def _done(start: float, what: str) -> None:
    print(f"      {what} ({time.perf_counter() - start:.0f} s)", flush=True)


@dataclasses.dataclass(frozen=True)
class Banks:
    """The demo's note banks: the target's, the training pianos and the held-out pianos."""

    banks: notebank.BankSet  # TARGET (and ORIGIN, unused: the pools replace it)
    train: sources.SourcePool  # the pianos training hears
    held_out: sources.SourcePool  # the pianos only the evaluation plays


def _banks(out: Path, preset: Preset, progress: bool = True) -> Banks:
    """Render (once) every bank the demo uses into ``<out>/bank/<soundfont hash>/``."""
    default = notebank.default_soundfont()
    cache = out / "bank"
    banks = notebank.prepare_soundfont_bank(
        cache / notebank.default_cache_dir(default).name,
        [ORIGIN, TARGET],
        pitches=preset.bank_pitches,
        progress=progress,
    )
    soundfonts = sources.default_soundfonts()
    pool = sources.soundfont_pool(
        ORIGIN, soundfonts, cache, progress=progress, pitches=preset.bank_pitches
    )
    stem = HELD_OUT if any(s.stem == HELD_OUT for s in soundfonts) else soundfonts[-1].stem
    held = [name for name in pool.sources if name.split(":")[0] == stem]
    return Banks(
        banks,
        pool.without(held),
        sources.SourcePool(ORIGIN, {name: pool.sources[name] for name in held}),
    )


def _data(out: Path, preset: Preset, jobs: int, seed: int) -> tuple[Path, Banks]:
    start = _stage(1, f"note banks: {TARGET} and the pianos of the pool (FluidSynth)")
    banks = _banks(out, preset)
    _done(
        start,
        f"training pianos: {', '.join(banks.train.sources)}; held out: "
        f"{', '.join(banks.held_out.sources)}; banks in {out / 'bank'}",
    )
    start = _stage(
        2,
        f"corpus: {preset.corpus_minutes:g} minutes of generated keyboard music, rendered as pairs",
    )
    midi_folder = out / "audios" / "midi"
    corpus.write_corpus(midi_folder, preset.corpus_minutes, seed)
    summary = render.render_pairs(
        midi_folder,
        out / "audios",
        banks.banks,
        _synth_config(preset),
        pools=[banks.train],
        augment=preset.augment,
        jobs=jobs,
        seed=seed,
    )
    _done(
        start,
        f"{len(summary.rendered)} pieces rendered, {len(summary.skipped)} reused, "
        f"{len(summary.failed)} failed",
    )
    start = _stage(3, "features: normalised log-magnitude tiles")
    from timbre.data.features import compute_features

    features = out / "features"
    compute_features(
        out / "audios",
        features,
        instruments=[ORIGIN, TARGET],
        spectrogram=preset.spectrogram,
        features=FeatureConfig(overlap=preset.overlap),
        jobs=jobs,
    )
    _done(start, f"tiles in {features}")
    return features, banks


def _train(out: Path, features: Path, preset: Preset, minutes: float) -> Path:
    model_dir = out / "model"
    marker = model_dir / "demo_complete.json"
    start = _stage(
        4,
        f"training: {preset.mode} mode, base_filters={preset.model.base_filters}, "
        f"{preset.train.mixed_precision}, budget {minutes:g} min",
    )
    if marker.exists() and ModelDir(model_dir).generator.exists():
        _done(
            start,
            f"already trained ({read_json(marker)['epochs']} epochs); delete {marker} to train "
            "again",
        )
        return model_dir
    start_tensorflow()
    from timbre.tf.fit import train

    result = train(
        features,
        model_dir,
        ORIGIN,
        TARGET,
        mode=preset.mode,
        model=preset.model,
        config=preset.train,
        resume=True,
        max_minutes=minutes,
    )
    write_json(marker, {"epochs": result.epochs_done, "minutes": minutes})
    _done(start, f"{result.epochs_done} epochs; curves in {ModelDir(model_dir).curves}")
    return model_dir


def _up_to_date(path: Path, model_dir: Path) -> bool:
    """True when ``path`` exists and was written after the model's generator (a rerun keeps it)."""
    generator = ModelDir(model_dir).generator
    return path.exists() and path.stat().st_mtime_ns > generator.stat().st_mtime_ns


def _write_melody(out: Path) -> Path:
    beat = 0.5
    notes = [(b * beat, (b + n) * beat * 0.98, p, v) for b, n, p, v in _MELODY + _BASS]
    folder = out / "melody" / "midi"
    corpus.write_notes(folder / "ode_to_joy.mid", notes, bpm=60.0 / beat)
    return folder


def _held_out_audio(out: Path, features: Path, banks: Banks, preset: Preset) -> Path:
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
        _synth_config(preset),
        pools=[banks.held_out],
        jobs=1,
        progress=False,
    )
    return folder


def _convert(
    out: Path, model_dir: Path, features: Path, banks: Banks, preset: Preset
) -> list[Path]:
    start = _stage(5, "conversion: test pieces and a short melody on a piano training never heard")
    from timbre.convert.converter import load_converter
    from timbre.io.plotting import save_figure, spectrogram_figure

    render.render_pairs(
        _write_melody(out),
        out / "melody",
        banks.banks,
        _synth_config(preset),
        pools=[banks.held_out],
        jobs=1,
        progress=False,
    )
    pieces = [(out / "audios", piece) for piece in load_manifest(features).split["test"]]
    pieces += [(out / "melody", piece) for piece in audio_folder.read(out / "melody")["pieces"]]
    converter = load_converter(model_dir)
    config, folders = preset.spectrogram, []
    for audios, piece in pieces:
        folder = out / "converted" / piece
        folders.append(folder)
        if _up_to_date(folder / "spectrograms.png", model_dir):
            continue
        converter.convert_file(audios / ORIGIN / f"{piece}.wav", folder / "converted.wav")
        panels = []
        for label, path in (
            ("input", audios / ORIGIN / f"{piece}.wav"),
            ("converted", folder / "converted.wav"),
            ("target", audios / TARGET / f"{piece}.wav"),
        ):
            samples, _ = audio.load(path, config.sample_rate)
            if label != "converted":
                audio.save(folder / f"{label}.wav", samples, config.sample_rate)
            panels.append(
                (
                    f"{label}: {path.parent.name if label != 'converted' else 'model'}",
                    sp.log_spectrogram(samples[: int(PLOT_SECONDS * config.sample_rate)], config)[
                        0
                    ],
                )
            )
        save_figure(
            spectrogram_figure(panels, config, title=f"{piece}: {ORIGIN} -> {TARGET}"),
            folder / "spectrograms.png",
        )
    _done(start, f"{len(folders)} conversions in {out / 'converted'}")
    return folders


EVAL_SETS = {  # output folder under <out>/eval -> what it scores
    "training_pianos": "test pieces, pianos of the training pool",
    "held_out_piano": "test pieces, pianos training never heard",
}
CONDITIONS = {"clean": "clean", "excerpt": "as recordings arrive"}


def _evaluate(out: Path, model_dir: Path, features: Path, held_out: Path) -> str:
    """Score both sets of test pieces in both conditions.

    Returns:
        The report: each table, then the share of the gap closed for all four.
    """
    start = _stage(6, "evaluation on the test pieces: model vs identity vs oracle")
    from timbre.evaluate.scoring import EvalConfig, evaluate, markdown_table

    inputs = {
        "training_pianos": {"features_path": features},
        "held_out_piano": {"origin_dir": held_out / ORIGIN, "target_dir": held_out / TARGET},
    }
    tables, shares = [], {}
    for name, source in inputs.items():
        for condition, label in CONDITIONS.items():
            folder = out / "eval" / name / condition
            if _up_to_date(folder / "results.json", model_dir):
                table = (folder / "results.md").read_text()
                closed = read_json(folder / "results.json")["gap_closed"]["model"]["lsd_db"]
            else:
                # Griffin-Lim (slow) is compared on the main table only
                both = name == "training_pianos" and condition == "clean"
                config = EvalConfig(phase="both" if both else "input", condition=condition)
                results, _ = evaluate(model_dir, output_dir=folder, config=config, **source)
                table, closed = markdown_table(results), results.gap_closed["model"]["lsd_db"]
            tables.append(f"{EVAL_SETS[name]}, {label} ({folder}):\n{table}")
            shares[name, condition] = (
                "n/a" if closed is None or closed != closed else f"{closed:.1%}"  # None/NaN
            )
    _done(start, f"results in {out / 'eval'}")
    summary = [
        "Share of the identity-to-oracle gap in log-spectral distance the model closes:",
        "",
        "| test pieces | " + " | ".join(CONDITIONS.values()) + " |",
        "| --- |" + " --- |" * len(CONDITIONS),
    ]
    summary += [
        f"| {EVAL_SETS[name]} | " + " | ".join(shares[name, c] for c in CONDITIONS) + " |"
        for name in inputs
    ]
    return "\n".join(tables) + "\n" + "\n".join(summary)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="timbre demo",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument(
        "--minutes",
        type=float,
        default=10.0,
        help="training budget in minutes (default: %(default)s)",
    )
    parser.add_argument(
        "--output",
        default="demo",
        help="folder for everything the demo writes (default: %(default)s)",
    )
    parser.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="cpu",
        help="'cpu': the real demo; 'tiny': a seconds-long run of every stage (tests)",
    )
    parser.add_argument(
        "--jobs", type=positive_int, default=os.cpu_count() or 1, help="worker processes"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the corpus and the split (default: %(default)s)",
    )
    return parser


def _body(args: argparse.Namespace) -> int:
    out, preset = Path(args.output), PRESETS[args.preset]
    begin = time.perf_counter()
    features, banks = _data(out, preset, args.jobs, args.seed)
    model_dir = _train(out, features, preset, args.minutes)
    held_out = _held_out_audio(out, features, banks, preset)
    folders = _convert(out, model_dir, features, banks, preset)
    table = _evaluate(out, model_dir, features, held_out)
    print(f"\n{table}\n")
    print(f"demo finished in {(time.perf_counter() - begin) / 60:.1f} min. Look at:")
    print(f"  converted audio + spectrograms: {out / 'converted'}/<piece>/ (e.g. {folders[-1]})")
    print(f"  training curves:                {model_dir / 'curves.png'}")
    print(f"  evaluation:                     {out / 'eval'}/<pieces>/<condition>/results.md")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser(), _body, argv)


if __name__ == "__main__":
    raise SystemExit(main())
