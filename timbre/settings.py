"""Settings as frozen dataclasses, saved as JSON beside every output.

Each stage writes the settings it used next to its output and the next stage
reads them back: the feature store's manifest holds the
``SpectrogramConfig``, a model directory's ``config.json`` holds every config.
Values are checked once, in ``__post_init__``.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, TypeVar

from timbre.errors import ConfigError
from timbre.io.atomic import read_json, write_json

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


def _positive_int(owner: str, **values: int) -> None:
    for name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ConfigError(f"{owner}: {name}={value!r} must be a positive integer")


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
        _positive_int(
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
        _positive_int("SynthConfig", sample_rate=self.sample_rate)
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


@dataclasses.dataclass(frozen=True)
class AugmentConfig(JsonConfig):
    """Augmentation of the origin part, seeded per piece (:mod:`timbre.data.augment`)."""

    tilt_db_per_octave: float = 3.0  # EQ tilt drawn in +-this, dB per octave around 1 kHz
    reverb_probability: float = 0.5  # share of pieces given room reverberation
    rt60_s: tuple[float, float] = (0.2, 1.2)  # range of the reverberation time, seconds
    wet: tuple[float, float] = (0.1, 0.5)  # range of the reverberant/direct amplitude ratio
    noise: bool = True  # add white noise
    snr_db: tuple[float, float] = (35.0, 60.0)  # range of its signal-to-noise ratio, dB

    def __post_init__(self) -> None:
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

    overlap: int = 0  # frames shared by neighbouring training tiles (0 <= overlap < tile_frames)
    keep_silent: bool = False  # True: keep tile pairs whose origin and target are both near silence
    silence_db: float = (
        -60.0
    )  # a tile is near silence when its loudest bin is below this (dB, full-scale sine = 0)

    def __post_init__(self) -> None:
        if not isinstance(self.overlap, int) or isinstance(self.overlap, bool) or self.overlap < 0:
            raise ConfigError(
                f"FeatureConfig: overlap={self.overlap!r} must be a non-negative integer"
            )
        if not isinstance(self.keep_silent, bool):
            raise ConfigError(
                f"FeatureConfig: keep_silent={self.keep_silent!r} (expected True or False)"
            )
        if not (isinstance(self.silence_db, (int, float)) and -200.0 <= self.silence_db <= 0.0):
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

    base_filters: int = 64  # filters of the first generator/discriminator block
    depth: int = 8  # generator down blocks (stride 2 each); depth - 1 up blocks mirror them
    max_filters_factor: int = 8  # filters of a block are capped at base_filters * this
    dropout: float = 0.5  # dropout rate in the first `dropout_blocks` up blocks (pix2pix's noise)
    dropout_blocks: int = 3  # up blocks (from the bottleneck) that use dropout
    disc_layers: int = 3  # stride-2 blocks of the PatchGAN (3: the 70x70 receptive field)

    def __post_init__(self) -> None:
        _positive_int(
            "ModelConfig",
            base_filters=self.base_filters,
            depth=self.depth,
            max_filters_factor=self.max_filters_factor,
            disc_layers=self.disc_layers,
        )
        if not isinstance(self.dropout_blocks, int) or self.dropout_blocks < 0:
            raise ConfigError(
                f"ModelConfig: dropout_blocks={self.dropout_blocks!r} must be a non-negative "
                "integer"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"ModelConfig: dropout={self.dropout} must lie in [0, 1)")


MIXED_PRECISION = ("off", "bf16", "fp16")
DISTRIBUTE = ("none", "mirrored", "multiworker")
LR_DECAYS = ("none", "cosine")


@dataclasses.dataclass(frozen=True)
class TrainConfig(JsonConfig):
    """Optimisation settings of one training run."""

    batch_size: int = 8  # tile pairs per step (global batch, split across replicas)
    epochs: int = 100  # train until this many epochs are complete (counted across resumes)
    steps_per_epoch: int | None = None  # batches per epoch; None: one pass over the training pairs
    gen_lr: float = 2e-4  # Adam learning rate of the generator
    disc_lr: float = 2e-4  # Adam learning rate of the discriminator
    beta_1: float = 0.5  # Adam beta_1 of both optimisers
    l1_weight: float = 100.0  # weight of the L1 term in the generator loss (GAN mode)
    validation_fraction: float = (
        0.1  # pieces held out for validation when the features have no split
    )
    seed: int = 0  # seeds weights, dropout and the data order (epoch e shuffles with seed + e)
    mixed_precision: str = "off"  # "off" (float32), "bf16" or "fp16"; tanh and losses stay float32
    distribute: str = "none"  # tf.distribute strategy: "none", "mirrored" or "multiworker"
    keep_checkpoints: int = 2  # newest full-state checkpoints kept in checkpoints/
    deterministic: bool = False  # TF op determinism (bit-exact resume; slower, disables XLA)
    lr_decay: str = "none"  # "none" or "cosine": both rates fall along a half cosine to 5 % of
    # themselves over epochs x steps_per_epoch steps (set epochs to the steps you will train)

    def __post_init__(self) -> None:
        _positive_int(
            "TrainConfig",
            batch_size=self.batch_size,
            epochs=self.epochs,
            keep_checkpoints=self.keep_checkpoints,
        )
        if self.steps_per_epoch is not None:
            _positive_int("TrainConfig", steps_per_epoch=self.steps_per_epoch)
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"TrainConfig: seed={self.seed!r} must be a non-negative integer")
        for name in ("gen_lr", "disc_lr", "l1_weight"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"TrainConfig: {name}={getattr(self, name)} must be > 0")
        if not 0.0 <= self.beta_1 < 1.0:
            raise ConfigError(f"TrainConfig: beta_1={self.beta_1} must lie in [0, 1)")
        if not 0.0 < self.validation_fraction < 1.0:
            raise ConfigError(
                f"TrainConfig: validation_fraction={self.validation_fraction} must lie in (0, 1)"
            )
        if self.mixed_precision not in MIXED_PRECISION:
            raise ConfigError(
                f"TrainConfig: mixed_precision={self.mixed_precision!r} (expected one of "
                f"{MIXED_PRECISION})"
            )
        if self.lr_decay not in LR_DECAYS:
            raise ConfigError(
                f"TrainConfig: lr_decay={self.lr_decay!r} (expected one of {LR_DECAYS})"
            )
        if self.distribute not in DISTRIBUTE:
            raise ConfigError(
                f"TrainConfig: distribute={self.distribute!r} (expected one of {DISTRIBUTE})"
            )
