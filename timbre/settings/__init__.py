"""Settings as frozen dataclasses, saved as JSON beside every output.

Each stage writes the settings it used next to its output and the next stage
reads them back: the feature store's manifest holds the
``SpectrogramConfig``, a model directory's ``config.json`` holds every config.
Values are checked once, in ``__post_init__``, mostly from the rule each field
carries (:func:`timbre.settings.rules.setting`); command-line flags are derived
from the same fields (:func:`timbre.settings.rules.add_arguments`).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, TypeVar

from timbre.errors import ConfigError
from timbre.io.atomic import read_json, write_json
from timbre.settings.rules import (
    FRACTION,
    NON_NEGATIVE,
    NON_NEGATIVE_INT,
    POSITIVE,
    POSITIVE_INT,
    UNIT_INTERVAL,
    Rule,
    add_arguments,
    check_fields,
    check_positive_int,
    fields_given,
    is_number,
    setting,
)

__all__ = [
    "FRACTION",
    "NON_NEGATIVE",
    "NON_NEGATIVE_INT",
    "POSITIVE",
    "POSITIVE_INT",
    "UNIT_INTERVAL",
    "AugmentConfig",
    "ConvertConfig",
    "FeatureConfig",
    "JsonConfig",
    "ModelConfig",
    "Rule",
    "SpectrogramConfig",
    "SynthConfig",
    "TrainConfig",
    "add_arguments",
    "check_fields",
    "check_positive_int",
    "fields_given",
    "setting",
]

C = TypeVar("C", bound="JsonConfig")


class JsonConfig:
    """Mixin: dict/JSON round trip for a frozen dataclass; unknown keys are refused."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: tuples become lists, so a dict compares equal to its JSON round trip."""
        data = dataclasses.asdict(self)  # type: ignore[call-overload]
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any], source: str = "config") -> C:
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(
                f"{source}: unknown {cls.__name__} keys {unknown} (expected some of "
                f"{sorted(names)})"
            )
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**values)

    def save(self, path: str | os.PathLike) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def load(cls: type[C], path: str | os.PathLike) -> C:
        return cls.from_dict(read_json(path), source=str(path))


@dataclasses.dataclass(frozen=True)
class SpectrogramConfig(JsonConfig):
    """How audio becomes normalised log-magnitude tiles (defaults: the original Pix2Pix timbre
    work).
    """

    sample_rate: int = 44100  # Hz; audio is resampled to this before the STFT
    n_fft: int = 1024  # FFT size = Hann window length, samples
    hop_length: int = 512  # samples between frames
    n_bins: int = 256  # lowest STFT bins kept (256 of 513: 0-11 kHz at 44.1 kHz)
    tile_frames: int = 256  # frames per tile (2.97 s at the defaults)
    amin: float = 2.0**-16  # magnitude floor of the log compression (full-scale sine = 1)

    def __post_init__(self) -> None:
        check_positive_int(
            "SpectrogramConfig",
            sample_rate=self.sample_rate,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            n_bins=self.n_bins,
            tile_frames=self.tile_frames,
        )
        if self.n_bins > self.n_fft // 2 + 1:
            raise ConfigError(
                f"SpectrogramConfig: n_bins={self.n_bins} exceeds the {self.n_fft // 2 + 1} bins "
                f"of n_fft={self.n_fft}"
            )
        if self.hop_length > self.n_fft:
            raise ConfigError(
                f"SpectrogramConfig: hop_length={self.hop_length} exceeds n_fft={self.n_fft} "
                "(frames would leave gaps)"
            )
        if not 0.0 < self.amin < 1.0:
            raise ConfigError(f"SpectrogramConfig: amin={self.amin} must lie in (0, 1)")

    @property
    def tile_seconds(self) -> float:
        """Duration covered by one tile, in seconds."""
        return self.tile_frames * self.hop_length / self.sample_rate

    @property
    def max_hz(self) -> float:
        """Upper edge of the kept band, in Hz."""
        return self.n_bins * self.sample_rate / self.n_fft


# --- Owned by the synthesis stage (timbre.data.synth / timbre.data.notebank /
# synthesize_audios.py).
@dataclasses.dataclass(frozen=True)
class SynthConfig(JsonConfig):
    """How MIDI notes become audio (recorded in the audio folder's manifest).

    Timing: a note starting at ``t`` s and lasting ``d`` s in the MIDI file
    starts at ``t / playback_speed`` and sounds for
    ``d * duration_rate / playback_speed`` s (plus the release fade).
    """

    sample_rate: int = 44100  # Hz of the rendered pieces
    playback_speed: float = 1.0  # tempo factor: 2.0 plays twice as fast (pieces half as long)
    duration_rate: float = 1.0  # factor on each note's sounding length; onsets unchanged
    transpose: int = 0  # semitones added to every pitch (3 = a minor third up)
    max_seconds: float | None = None  # cut pieces longer than this (output seconds); None keeps all
    release_seconds: float = 0.05  # fade-out after each note's end (and at a cut)
    headroom_db: float = 1.0  # each rendered file peaks at -headroom_db dBFS
    # WAV samples: "PCM_16"/"PCM_24" (same bytes every run) or "FLOAT" (libsndfile stamps the time)
    subtype: str = "PCM_16"
    # "notes": each note from its bank recording (held 3 s, 5 velocities, as NSynth);
    # "fluidsynth": SoundFont instruments played whole by FluidSynth (NSynth banks: notes)
    renderer: str = "notes"

    def __post_init__(self) -> None:
        check_positive_int("SynthConfig", sample_rate=self.sample_rate)
        for name in ("playback_speed", "duration_rate"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0.0 < value < float("inf"):
                raise ConfigError(f"SynthConfig: {name}={value!r} must be a positive number")
        if (
            not isinstance(self.transpose, int)
            or isinstance(self.transpose, bool)
            or abs(self.transpose) > 48
        ):
            raise ConfigError(
                f"SynthConfig: transpose={self.transpose!r} (expected an integer number of "
                "semitones in -48..48)"
            )
        if self.max_seconds is not None and not (
            isinstance(self.max_seconds, (int, float)) and self.max_seconds > 0
        ):
            raise ConfigError(
                f"SynthConfig: max_seconds={self.max_seconds!r} must be a positive number or None"
            )
        if not (
            isinstance(self.release_seconds, (int, float)) and 0.0 <= self.release_seconds <= 5.0
        ):
            raise ConfigError(
                f"SynthConfig: release_seconds={self.release_seconds!r} (expected 0 to 5 seconds)"
            )
        if not (isinstance(self.headroom_db, (int, float)) and 0.0 <= self.headroom_db <= 60.0):
            raise ConfigError(
                f"SynthConfig: headroom_db={self.headroom_db!r} (expected 0 to 60 dB)"
            )
        if self.renderer not in ("notes", "fluidsynth"):
            raise ConfigError(
                f"SynthConfig: renderer={self.renderer!r} (expected 'notes' or 'fluidsynth')"
            )
        if self.subtype not in ("PCM_16", "PCM_24", "FLOAT"):
            raise ConfigError(
                f"SynthConfig: subtype={self.subtype!r} (expected 'PCM_16', 'PCM_24' or 'FLOAT')"
            )


AUGMENT_CHAINS = ("simple", "recorded")


@dataclasses.dataclass(frozen=True)
class AugmentConfig(JsonConfig):
    """Augmentation of the origin part, seeded per piece (:mod:`timbre.data.augment`)."""

    # "simple": the EQ tilt, reverberation and noise below; "recorded": the chain of the
    # "recorded" evaluation condition (timbre.data.recorded: a pyroomacoustics room, a
    # pedalboard microphone, noise, a band limit, MP3), drawn in its default ranges
    chain: str = "simple"
    probability: float = 1.0  # share of pieces augmented at all (the others stay clean)
    tilt_db_per_octave: float = 3.0  # EQ tilt drawn in +-this, dB per octave around 1 kHz
    reverb_probability: float = 0.5  # share of pieces given room reverberation
    rt60_s: tuple[float, float] = (0.2, 1.2)  # range of the reverberation time, seconds
    wet: tuple[float, float] = (0.1, 0.5)  # range of the reverberant/direct amplitude ratio
    noise: bool = True  # add white noise
    snr_db: tuple[float, float] = (35.0, 60.0)  # range of its signal-to-noise ratio, dB

    def __post_init__(self) -> None:
        if self.chain not in AUGMENT_CHAINS:
            raise ConfigError(
                f"AugmentConfig: chain={self.chain!r} (expected one of {', '.join(AUGMENT_CHAINS)})"
            )
        if not (isinstance(self.probability, (int, float)) and 0.0 <= self.probability <= 1.0):
            raise ConfigError(f"AugmentConfig: probability={self.probability!r} (expected 0 to 1)")
        if not (
            isinstance(self.tilt_db_per_octave, (int, float)) and 0 <= self.tilt_db_per_octave <= 12
        ):
            raise ConfigError(
                f"AugmentConfig: tilt_db_per_octave={self.tilt_db_per_octave!r} (expected 0 to 12)"
            )
        if not 0.0 <= self.reverb_probability <= 1.0:
            raise ConfigError(
                f"AugmentConfig: reverb_probability={self.reverb_probability!r} (expected 0 to 1)"
            )
        for name, low, high in (("rt60_s", 0.01, 10.0), ("wet", 0.0, 2.0), ("snr_db", 0.0, 120.0)):
            value = getattr(self, name)
            if not (len(value) == 2 and low <= value[0] <= value[1] <= high):
                raise ConfigError(
                    f"AugmentConfig: {name}={value!r} (expected (min, max) with "
                    f"{low} <= min <= max <= {high})"
                )


# --- Owned by the feature stage (timbre.data.features / compute_features.py).
@dataclasses.dataclass(frozen=True)
class FeatureConfig(JsonConfig):
    """How paired audio becomes training tiles (recorded in the feature store's manifest).

    Tile files keep every tile (so tile i of all instruments of a piece covers
    the same frames); near-silent pairs are dropped when the training pairs
    are formed (``timbre.tf.pipeline``), using each tile's peak stored in the manifest.
    """

    overlap: int = setting(
        0,
        "frames shared by neighbouring tiles (0 <= overlap < tile_frames)",
        check=NON_NEGATIVE_INT,
    )
    keep_silent: bool = setting(
        False,
        "keep tile pairs whose origin and target are both near silence (otherwise training "
        "drops them)",
    )
    silence_db: float = setting(
        -60.0,
        "a tile is near silence when its loudest bin is below this, in dB (full-scale sine = 0 dB)",
    )

    def __post_init__(self) -> None:
        check_fields(self)
        if not isinstance(self.keep_silent, bool):
            raise ConfigError(
                f"FeatureConfig: keep_silent={self.keep_silent!r} (expected True or False)"
            )
        if not (is_number(self.silence_db) and -200.0 <= self.silence_db <= 0.0):
            raise ConfigError(
                f"FeatureConfig: silence_db={self.silence_db!r} (expected -200 to 0 dB)"
            )


# --- Owned by the model/training stage (timbre.tf.networks / timbre.tf.pix2pix /
# timbre.tf.fit).
@dataclasses.dataclass(frozen=True)
class ModelConfig(JsonConfig):
    """Generator and discriminator architecture (defaults: the pix2pix paper, 54.4 M generator
    parameters).

    Tiles must have both sides divisible by ``2**depth``. Tests use
    ``ModelConfig(base_filters=4, depth=5)`` on 32x32 tiles; the CPU demo e.g.
    ``ModelConfig(base_filters=16)`` on 256x256 tiles.
    """

    base_filters: int = setting(
        64, "filters of the first generator/discriminator block", check=POSITIVE_INT
    )
    depth: int = setting(
        8,
        "generator down blocks, stride 2 each (tiles must be divisible by 2**depth)",
        check=POSITIVE_INT,
    )
    max_filters_factor: int = setting(
        8, "filters of a block are capped at base_filters * this", check=POSITIVE_INT
    )
    dropout: float = setting(
        0.5, "dropout rate of the first up blocks (pix2pix's noise)", check=UNIT_INTERVAL
    )
    dropout_blocks: int = setting(
        3, "up blocks (from the bottleneck) with dropout", check=NON_NEGATIVE_INT
    )
    disc_layers: int = setting(
        3, "stride-2 blocks of the PatchGAN (3: 70x70 patches)", check=POSITIVE_INT
    )

    def __post_init__(self) -> None:
        check_fields(self)


MIXED_PRECISION = ("off", "bf16", "fp16", "auto")
DISTRIBUTE = ("none", "mirrored", "multiworker")
LR_DECAYS = ("none", "cosine")


@dataclasses.dataclass(frozen=True)
class TrainConfig(JsonConfig):
    """Optimisation settings of one training run."""

    batch_size: int = setting(
        8, "tile pairs per step (global batch, split across replicas)", check=POSITIVE_INT
    )
    epochs: int = setting(
        100,
        "total epochs, counted across resumes: with --resume, training goes on until this many "
        "are done",
        check=POSITIVE_INT,
    )
    steps_per_epoch: int | None = setting(
        None, "batches per epoch", check=POSITIVE_INT, default_help="one pass over the pairs"
    )
    gen_lr: float = setting(
        2e-4,
        "generator Adam learning rate; --lr is an alias",
        check=POSITIVE,
        flags=("--gen_lr", "--lr"),
    )
    disc_lr: float = setting(2e-4, "discriminator Adam learning rate", check=POSITIVE)
    beta_1: float = setting(0.5, "Adam beta_1 of both optimisers", check=UNIT_INTERVAL)
    l1_weight: float = setting(
        100.0, "weight of the L1 term in the generator loss (GAN mode)", check=POSITIVE
    )
    sc_weight: float = setting(
        0.0,
        "weight of a spectral-convergence term on the tiles' linear magnitude, added to the "
        "generator loss (both modes): it punishes energy between the harmonics, which L1 on "
        "log values blurs into a haze; 0: none",
        check=NON_NEGATIVE,
    )
    validation_fraction: float = setting(
        0.1,
        "fraction of the pieces HELD OUT for validation when the features have no split (the "
        "original project's flag was the training fraction)",
        check=FRACTION,
        flags=("--validation_split",),
    )
    seed: int = setting(
        0,
        "seeds weights, dropout and the data order (epoch e shuffles with seed + e)",
        check=NON_NEGATIVE_INT,
    )
    mixed_precision: str = setting(
        "off",
        "off (float32), bf16, fp16, or auto: bf16 where the hardware computes it natively (a GPU "
        "of compute capability 8.0+, a CPU with AVX512-BF16 or AMX), else float32 (a CPU "
        "without them emulates bf16, several times slower); tanh and losses stay float32",
        choices=MIXED_PRECISION,
    )
    distribute: str = setting("none", "tf.distribute strategy", choices=DISTRIBUTE)
    keep_checkpoints: int = setting(
        2, "newest full-state checkpoints kept in checkpoints/", check=POSITIVE_INT
    )
    deterministic: bool = setting(
        False,
        "TF op determinism: a resumed run equals an uninterrupted one bit for bit (slower, "
        "disables XLA)",
    )
    lr_decay: str = setting(
        "none",
        "cosine: both learning rates fall along a half cosine to 5 % of themselves over "
        "epochs x steps_per_epoch steps (set --epochs to the epochs you will train)",
        choices=LR_DECAYS,
    )

    def __post_init__(self) -> None:
        check_fields(self)


# --- Owned by the conversion stage (timbre.convert / predict.py / evaluate.py).
PHASES = ("input", "griffinlim")
PRECISIONS = ("float32", "bfloat16")
BACKENDS = ("auto", "onnx", "keras")


@dataclasses.dataclass(frozen=True)
class ConvertConfig:
    """How a trained generator converts audio (predict.py, evaluate.py, the Python API)."""

    phase: str = setting(
        "input",
        "output phase: the input's, or fast Griffin-Lim started from it",
        choices=PHASES,
    )
    iterations: int = setting(
        32, "Griffin-Lim iterations, used with --phase griffinlim", check=POSITIVE_INT
    )
    batch_size: int = setting(8, "tiles per generator call", check=POSITIVE_INT)
    overlap: int | None = setting(
        None,
        "frames shared by neighbouring tiles",
        check=NON_NEGATIVE_INT,
        default_help="tile_frames // 4",
    )
    context: int | None = setting(
        None,
        "edge frames of each tile treated as discarded context",
        check=NON_NEGATIVE_INT,
        default_help="overlap // 4",
    )
    precision: str = setting(
        "float32",
        "generator arithmetic: bfloat16 is about 2x faster on CPUs with AVX512-BF16/AMX",
        choices=PRECISIONS,
    )
    backend: str = setting(
        "auto",
        "generator runtime: auto takes ONNX Runtime when the model has generator.onnx and the "
        "precision is float32, else Keras",
        choices=BACKENDS,
    )
    keep_level: bool = setting(
        True,
        "on: the output comes back at the input's level; off: it stays at the level the model "
        "was trained at (the input is brought to that level either way)",
    )

    def __post_init__(self) -> None:
        check_fields(self)
