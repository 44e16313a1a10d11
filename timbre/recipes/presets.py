"""The demo's presets: what it makes, at which size, and what it holds out.

``cpu`` is the real demo (``make demo``), ``tiny`` a seconds-long run of every
stage (the tests), ``pretrained`` the shipped model's recipe (``make pretrained``).
"""

from __future__ import annotations

import dataclasses

from timbre.settings import (
    AugmentConfig,
    ModelConfig,
    SpectrogramConfig,
    SynthConfig,
    TrainConfig,
)

ORIGIN, TARGET = "keyboard_acoustic", "string_acoustic"
# The SoundFont whose pianos training never hears (Csound's GM bank, from csound-soundfont);
# without it installed, the last SoundFont of the pool is held out instead.
HELD_OUT = "sf_GMbank"
ZOO_TARGETS = ("string_acoustic", "guitar_acoustic", "synth_lead_synthetic")  # the shipped model's


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
    targets: tuple[str, ...] = (TARGET,)  # several: one multi-target model (FiLM)
    start_from: str | None = None  # a preset trained first (its own folder) whose weights start it


# The demo: L1 plus 0.2 x the spectral convergence of the linear magnitude (which punishes energy
# between the harmonics), no dropout (the GAN's noise source, which only slows L1 fitting); Adam
# 5e-4 with beta_1 0.9 along a cosine over 50 epochs (what 10 minutes hold on an idle 2-core CPU)
# or over the time budget, whichever ends first (timbre.tf.fit: a busy machine still finishes);
# bf16 where the hardware computes it natively, float32 elsewhere (timbre.tf.precision); 90
# minutes of generated music rendered whole by FluidSynth (pedal, release and notes held as the
# music holds them), half the training pieces' piano parts recorded (a room, a microphone,
# noise, a band limit, MP3): trial 14 of docs/tuning.md, the best at this budget on the unheard
# piano in the recorded condition. docs/tuning.md has the measurements behind each choice.
CPU = Preset(
    SpectrogramConfig(),
    ModelConfig(base_filters=16, dropout=0.0),
    TrainConfig(
        batch_size=8,
        epochs=50,
        steps_per_epoch=100,
        gen_lr=5e-4,
        beta_1=0.9,
        mixed_precision="auto",
        lr_decay="cosine",
        sc_weight=0.2,
    ),
    mode="generator",
    corpus_minutes=90.0,
    bank_pitches=tuple(range(21, 109)),
    overlap=128,
    renderer="fluidsynth",
    augment=AugmentConfig(chain="recorded", probability=0.5),
)
PRESETS = {
    "cpu": CPU,
    # The first stage of the shipped model: the demo's recipe before trial 14 (L1 alone,
    # unaugmented) with twice the music and 150 epochs, strings only (the shipped strings model
    # of timbre 0.1).
    "pretrained_strings": dataclasses.replace(
        CPU,
        train=dataclasses.replace(CPU.train, epochs=150, sc_weight=0.0),
        corpus_minutes=180.0,
        augment=None,
    ),
    # The shipped model (``make pretrained``, timbre/pretrained/<name>/MODEL_CARD.md): strings,
    # guitar and synth lead in one FiLM model, starting from the strings stage's weights (its
    # FiLM layers start at zero), on the same music with half the training pieces' piano parts
    # recorded (a room, a microphone, noise, a band limit, MP3) and a spectral-convergence term
    # (trial 14 of docs/tuning.md), 300 epochs.
    "pretrained": dataclasses.replace(
        CPU,
        train=dataclasses.replace(CPU.train, epochs=300),
        corpus_minutes=180.0,
        targets=ZOO_TARGETS,
        start_from="pretrained_strings",
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
EVAL_SETS = {  # output folder under <out>/eval -> what it scores
    "training_pianos": "test pieces, pianos of the training pool",
    "held_out_piano": "test pieces, pianos training never heard",
}
CONDITIONS = {"clean": "clean", "excerpt": "as recordings arrive", "recorded": "recorded"}


def synth_config(preset: Preset) -> SynthConfig:
    """The synthesis settings of ``preset``: its sample rate and renderer."""
    return SynthConfig(sample_rate=preset.spectrogram.sample_rate, renderer=preset.renderer)
