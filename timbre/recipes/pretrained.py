"""The shipped model's recipe (``make pretrained``): rebuild it from scratch and write its card.

:func:`rebuild` runs the demo pipeline (:func:`timbre.recipes.demo.run`) with
the ``pretrained`` preset (:data:`timbre.recipes.presets.PRESETS`: the generated
corpus, the piano pool with Csound's pianos held out, the seeds, the model size
and the number of steps are all fixed there), resumable like the demo, then
packages the trained generator into ``timbre/pretrained/<name>/``:
``config.json``, ``generator.keras`` with its weights stored as float16
(all but the output layer's; conversion computes in float32:
:func:`timbre.tf.keras_generator.computing_in` upcasts them) and its ONNX copy
``generator.onnx``, weights float16 too (:func:`ship_onnx`: what ``predict.py``
runs by default, without TensorFlow), and writes ``MODEL_CARD.md`` with the
recipe and the evaluation.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from timbre.data import notebank
from timbre.formats import audio_folder, instruments
from timbre.formats.model_dir import ModelDir
from timbre.formats.shipped import DEFAULT, FOLDER
from timbre.io.atomic import atomic_path, read_json, write_json
from timbre.recipes import demo
from timbre.recipes.presets import CONDITIONS, EVAL_SETS, HELD_OUT, PRESETS

PRESET = "pretrained"
RENDERINGS = {  # SynthConfig.renderer -> how the card says it
    "notes": "note by note from note banks (notes held at most 3 s)",
    "fluidsynth": "as whole pieces by FluidSynth (pedal, release, notes held as written)",
}
SOUNDFONT_LICENCES = {  # SoundFont file stem -> (where it comes from, licence)
    "TimGM6mb": ("inside the pretty_midi package (Tim Brechbill, David Bolton)", "GPL-2"),
    "MuseScore_General_Lite": (
        "Debian package musescore-general-soundfont-small (S. Christian Collins; the "
        "piano is the Splendid Grand, from an AKAI S5000 library)",
        "MIT (the piano samples public domain)",
    ),
    "sf_GMbank": ("Debian package csound-soundfont (Csound's GM bank)", "public domain"),
}


def package(work: Path, destination: Path) -> Path:
    """Copy the trained generator (float16 weights) and its settings into ``destination``."""
    import keras

    from timbre.tf.keras_generator import computing_in

    source = ModelDir(work / "model")
    generator = keras.saving.load_model(source.generator, safe_mode=True, compile=False)
    config = read_json(source.config)
    config["features_path"] = None  # a path on the machine that trained it
    target = ModelDir(destination)
    destination.mkdir(parents=True, exist_ok=True)
    with atomic_path(target.generator) as tmp:
        computing_in(generator, "float16").save(tmp)  # float16 weights, but the output layer
    write_json(target.config, config)
    ship_onnx(destination)
    return destination


def ship_onnx(destination: Path) -> Path:
    """Write a shipped model's ``generator.onnx`` from its ``generator.keras``, float16 weights
    (:func:`timbre.tf.export.write_generator_onnx`): within 1e-4 of the Keras tiles at half
    the size of a float32 copy. ``python -m timbre.cli.pretrained --onnx_only`` runs this
    alone, without retraining.
    """
    from timbre.tf.export import add_generator_onnx

    return add_generator_onnx(destination, weights="float16")


def write_card(work: Path, destination: Path) -> Path:
    """``MODEL_CARD.md``: what the model was trained on, how, and how well it does."""
    from timbre.evaluate.report import headline_table
    from timbre.tf.checkpoints import read_history

    preset = PRESETS[PRESET]
    pools = audio_folder.read(work / "audios").get("pools", {}).get("keyboard_acoustic", [])
    held = audio_folder.read(work / "held_out").get("pools", {})
    sizes = {p.name: p.stat().st_size for p in destination.iterdir() if p.is_file()}
    history = read_history(work / "model")
    minutes = sum(row.get("seconds", 0.0) for row in history) / 60
    folders = demo.target_folders(preset)
    marker = read_json(work / "model" / "demo_complete.json")
    targets = ", ".join(instruments.label(t) for t in preset.targets)
    played = ", ".join(
        f"{instruments.short_name(t)} by TimGM6mb's program {notebank.GM_PROGRAMS[t]}"
        for t in preset.targets
    )
    lines = [
        f"# Model card: `{destination.name}` (keyboard_acoustic -> {targets})",
        "",
        "Shipped inside the package; `predict.py` uses it when no `--model` is given"
        + (
            f" (`--target {' | '.join(instruments.short_name(t) for t in preset.targets)}`, "
            f"default {instruments.short_name(preset.targets[0])}). "
            if len(preset.targets) > 1
            else ". "
        )
        + "Rebuilt from scratch by `make pretrained` "
        "(`python -m timbre.cli.pretrained`): every number below comes from that command.",
        "",
        "## Recipe",
        "",
        f"- Data: {preset.corpus_minutes:g} minutes of the generated keyboard corpus "
        "(`timbre.data.corpus`, seed 0), split 80/10/10 by piece; each piece's keyboard "
        f"part played by a piano drawn from {', '.join(pools)}; {played}. "
        f"Rendered {RENDERINGS[preset.renderer]} (`renderer={preset.renderer!r}`); "
        f"{augmentation_text(preset)}.",
        f"- Held out of training: {', '.join(sorted(s for p in held.values() for s in p))} "
        f"({HELD_OUT}), used only to evaluate on a piano the model never heard.",
        f"- Features: {json.dumps(preset.spectrogram.to_dict())}, tile overlap "
        f"{preset.overlap} frames.",
        f"- Model: U-Net generator {json.dumps(preset.model.to_dict())}, {objective_text(preset)}.",
        f"- Training: {json.dumps(preset.train.to_dict())}; the exported generator is the "
        "epoch with the lowest validation L1.",
        f"- Budget: {len(history)} epochs of {preset.train.steps_per_epoch} steps, "
        f"{minutes:.0f} minutes of training on a 2-core CPU (no GPU)"
        + (
            f", starting from the weights of `{marker['init_from']}` (the recipe's first "
            f"stage, preset `{preset.start_from}`: "
            f"{PRESETS[preset.start_from].train.epochs} epochs on the keyboard and strings "
            "pairs of the same music, unaugmented; the FiLM layers start at zero, so training "
            "began from that model)."
            if marker.get("init_from")
            else "."
        ),
        f"- Files: {', '.join(f'{name} ({size / 1e6:.1f} MB)' for name, size in sizes.items())}; "
        "the generator's weights are stored as float16 and computed in float32.",
        "",
        "## SoundFonts and their licences",
        "",
    ]
    lines += [
        f"- {stem}: {where}; {licence}." for stem, (where, licence) in SOUNDFONT_LICENCES.items()
    ]
    lines += ["", "## Evaluation", ""]
    lines += [
        "Share of the identity-to-oracle gap closed in log-spectral distance and in spectral "
        "convergence, and the output's spectral flatness over the target's (best at 1x; above "
        "1 a haze fills the space between the harmonics) with its gap closed (see the README's "
        "Results for the metrics), on the held-out test pieces:",
        "",
        headline_table(
            [
                (
                    f"{sub}: {label}" if sub else label,
                    condition_label,
                    read_json(work / "eval" / sub / name / c / "results.json"),
                )
                for sub in folders.values()
                for name, label in EVAL_SETS.items()
                for c, condition_label in CONDITIONS.items()
            ]
        ).strip(),
    ]
    for target, sub in folders.items():
        if sub:
            lines += ["", f"### --target {sub} ({target})"]
        for name, label in EVAL_SETS.items():
            for condition, condition_label in CONDITIONS.items():
                table = (work / "eval" / sub / name / condition / "results.md").read_text()
                lines += ["", f"#### {label}, {condition_label}", "", table.strip()]
    lines += [
        "",
        "## Limits",
        "",
        "- Trained on generated music and SoundFont instruments only; real piano recordings "
        "(other pianos, rooms, microphones) are further from its training data than the held-out "
        "SoundFont piano, and should be expected to convert less well.",
        "- It learnt one sound per target (TimGM6mb's programs): the output sounds like that "
        "SoundFont's instrument, not like a real string section, guitar or synthesizer.",
        "- Onsets and bow changes are blurred (L1 training); level is matched to its training "
        "level before conversion and restored after.",
        "",
    ]
    path = destination / "MODEL_CARD.md"
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines))
    return path


def augmentation_text(preset) -> str:
    """What the card says of the preset's origin augmentation."""
    augment = preset.augment
    if augment is None:
        return "no augmentation"
    what = {
        "recorded": "a simulated recording (a pyroomacoustics room, a microphone's EQ, noise, "
        "a band limit and MP3 by pedalboard, in the ranges of the 'recorded' condition)",
        "simple": "an EQ tilt, a reverberation tail and noise",
    }[augment.chain]
    return (
        f"the keyboard part of {augment.probability:.0%} of the training pieces played through "
        f"{what}, drawn per piece (`augment={json.dumps(augment.to_dict())}`); validation and "
        "test pieces clean"
    )


def objective_text(preset) -> str:
    """What the card says of the preset's training objective."""
    train = preset.train
    loss = "the L1 loss" + (
        f" plus {train.sc_weight:g} x the spectral convergence of the linear magnitude"
        if train.sc_weight
        else ""
    )
    if preset.mode == "gan":
        return f"trained against a PatchGAN discriminator with {train.l1_weight:g} x {loss}"
    return f"trained alone with {loss} ({preset.mode} mode)"


def rebuild(
    work: Path,
    *,
    minutes: float,
    jobs: int,
    destination: Path = FOLDER / DEFAULT,
    start_from: Path | None = None,
    report: demo.Report = demo.SILENT,
    prepare_tensorflow: Callable[[], None] | None = None,
) -> tuple[demo.DemoResult, Path]:
    """Run the demo pipeline with the ``pretrained`` preset in ``work``, then ship its model.

    The preset starts from the weights of another (``start_from``: the strings stage), which
    :func:`timbre.recipes.demo.run` trains first in ``<work>/<that preset>/``, unless
    ``start_from`` names a model directory to start from instead.

    Args:
        work: working folder of the pipeline (resumable).
        minutes: training budget of each stage (the cosine decays over it when it is shorter
            than the preset's epochs take).
        jobs: worker processes of synthesis and features.
        destination: where the model goes (:func:`package`) with its card (:func:`write_card`).
        start_from: a model directory of the first stage's architecture to start from instead
            of training the first stage.
        report, prepare_tensorflow: as :func:`timbre.recipes.demo.run`.

    Returns:
        The pipeline's result and the path of ``MODEL_CARD.md``.
    """
    result = demo.run(
        work,
        PRESETS[PRESET],
        minutes=minutes,
        jobs=jobs,
        report=report,
        prepare_tensorflow=prepare_tensorflow,
        init_from=start_from,
    )
    package(work, destination)
    return result, write_card(work, destination)
