"""Settings of an evaluation run, and the names of the systems and conditions it scores.

Systems are compared with the target recording (:mod:`timbre.evaluate.scoring`):
``identity`` (the origin audio), ``model`` (the converter with the input's
phase), ``model_griffinlim`` (the converter with Griffin-Lim phase) and
``oracle`` (the target's own magnitude with the origin's phase). Conditions
say how the pieces reach the model: ``clean`` as rendered, ``excerpt`` as recordings
arrive (:func:`timbre.evaluate.pairs.as_recording`), ``recorded`` played through a
room, a microphone, noise, a band limit and lossy coding
(:func:`timbre.evaluate.pairs.as_recorded`, :mod:`timbre.data.recorded`).
"""

from __future__ import annotations

import dataclasses

from timbre.data.recorded import DEFAULT_RECORDING, RecordingConfig
from timbre.errors import ConfigError
from timbre.settings import ConvertConfig

SYSTEMS = ("identity", "model", "model_griffinlim", "oracle")  # display order
MODEL_SYSTEMS = {
    "input": ("model",),
    "griffinlim": ("model_griffinlim",),
    "both": ("model", "model_griffinlim"),
}
PHASE_OF_SYSTEM = {"model": "input", "model_griffinlim": "griffinlim"}
CONDITIONS = ("clean", "excerpt", "recorded")


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """Settings of one evaluation run (recorded in ``results.json``)."""

    phase: str = "input"  # input | griffinlim | both: which model systems are scored
    iterations: int = ConvertConfig.iterations  # Griffin-Lim iterations of model_griffinlim
    batch_size: int = ConvertConfig.batch_size  # tiles per generator call
    max_hz: float = 8000.0  # upper edge of the compared band, Hz (also capped at the model's band)
    max_pieces: int | None = None  # score only the first N pieces (sorted by name)
    max_seconds: float | None = None  # score only the first S seconds of each piece
    condition: str = "clean"  # clean: as rendered; excerpt: as recordings arrive; recorded
    excerpt_peak_db: tuple[float, float] = (-35.0, -1.0)  # excerpt: range of the input's peak
    seed: int = 0  # excerpt: seeds each piece's cut points and level; recorded: its recording
    recording: RecordingConfig = DEFAULT_RECORDING  # recorded: the ranges each piece's is drawn in
    notes: bool = True  # notes_kept: transcribe each input and output (basic-pitch); off: NaN

    def __post_init__(self) -> None:
        if self.condition not in CONDITIONS:
            raise ConfigError(
                f"EvalConfig: condition={self.condition!r} (expected one of {CONDITIONS})"
            )
        low, high = self.excerpt_peak_db
        if not -120.0 <= low <= high <= 0.0:
            raise ConfigError(
                f"EvalConfig: excerpt_peak_db={self.excerpt_peak_db!r} (expected (low, high) "
                "dBFS with -120 <= low <= high <= 0)"
            )
        if self.phase not in MODEL_SYSTEMS:
            raise ConfigError(
                f"EvalConfig: phase={self.phase!r} (expected one of {sorted(MODEL_SYSTEMS)})"
            )
        for name in ("iterations", "batch_size", "max_pieces"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value <= 0):
                raise ConfigError(f"EvalConfig: {name}={value!r} must be a positive integer")
        for name in ("max_hz", "max_seconds"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ConfigError(f"EvalConfig: {name}={value!r} must be positive")


DEFAULT_CONFIG = EvalConfig()  # the settings a run gets when given none
