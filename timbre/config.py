"""Settings as frozen dataclasses, saved as JSON beside every output.

Each stage writes the settings it used next to its output and the next stage
reads them back (DESIGN.md): ``features/manifest.json`` holds the
``SpectrogramConfig``, a model directory's ``config.json`` holds every config.
Values are checked once, in ``__post_init__``.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, TypeVar

from timbre.errors import ConfigError
from timbre.fileio import read_json, write_json

C = TypeVar("C", bound="JsonConfig")


class JsonConfig:
    """Mixin: dict/JSON round trip for a frozen dataclass; unknown keys are refused."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any], source: str = "config") -> C:
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"{source}: unknown {cls.__name__} keys {unknown} (expected some of {sorted(names)})")
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
    """How audio becomes normalised log-magnitude tiles (defaults: DESIGN.md)."""

    sample_rate: int = 44100  # Hz; audio is resampled to this before the STFT
    n_fft: int = 1024  # FFT size = Hann window length, samples
    hop_length: int = 512  # samples between frames
    n_bins: int = 256  # lowest STFT bins kept (256 of 513: 0-11 kHz at 44.1 kHz)
    tile_frames: int = 256  # frames per tile (2.97 s at the defaults)
    amin: float = 2.0**-16  # magnitude floor of the log compression (full-scale sine = 1)

    def __post_init__(self) -> None:
        _positive_int("SpectrogramConfig", sample_rate=self.sample_rate, n_fft=self.n_fft,
                      hop_length=self.hop_length, n_bins=self.n_bins, tile_frames=self.tile_frames)
        if self.n_bins > self.n_fft // 2 + 1:
            raise ConfigError(f"SpectrogramConfig: n_bins={self.n_bins} exceeds the {self.n_fft // 2 + 1} bins of n_fft={self.n_fft}")
        if self.hop_length > self.n_fft:
            raise ConfigError(f"SpectrogramConfig: hop_length={self.hop_length} exceeds n_fft={self.n_fft} (frames would leave gaps)")
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


# --- Owned by the synthesis stage (timbre.synth / timbre.notebank / synthesize_audios.py).
@dataclasses.dataclass(frozen=True)
class SynthConfig(JsonConfig):
    """How MIDI notes become audio (recorded in ``<audios>/manifest.json``)."""

    sample_rate: int = 44100  # Hz of the rendered pieces

    def __post_init__(self) -> None:
        _positive_int("SynthConfig", sample_rate=self.sample_rate)


# --- Owned by the feature stage (timbre.features / compute_features.py).
@dataclasses.dataclass(frozen=True)
class FeatureConfig(JsonConfig):
    """How paired audio becomes training tiles (recorded in ``<features>/manifest.json``)."""

    overlap: int = 0  # frames shared by neighbouring training tiles


# --- Owned by the model/training stage (timbre.model / timbre.pix2pix / timbre.training).
@dataclasses.dataclass(frozen=True)
class ModelConfig(JsonConfig):
    """Generator and discriminator architecture."""

    base_filters: int = 64  # filters of the first generator/discriminator block


@dataclasses.dataclass(frozen=True)
class TrainConfig(JsonConfig):
    """Optimisation settings of one training run."""

    batch_size: int = 8  # tile pairs per step
