"""Phase recovery: fast Griffin-Lim over a whole spectrogram, and in segments for a stream.

:class:`SegmentedGriffinLim` runs :func:`griffin_lim` on each segment plus its context,
so both share one iteration.
"""

from __future__ import annotations

import numpy as np

from timbre.dsp import stft
from timbre.errors import ConfigError
from timbre.settings import SpectrogramConfig

GL_SEGMENT_FRAMES = 2048  # streaming Griffin-Lim: frames per segment (23.8 s at the defaults)
GL_CONTEXT_FRAMES = 64  # ... and context frames on either side of a segment


def griffin_lim(
    spectrogram: np.ndarray,
    config: SpectrogramConfig,
    length: int,
    n_iter: int = 32,
    momentum: float = 0.99,
    init_phase: np.ndarray | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Fast Griffin-Lim (Perraudin et al. 2013): phase recovery with momentum.

    Args:
        spectrogram: normalised log-magnitude, shape (n_bins, n_frames).
        config: the settings that made ``spectrogram``.
        length: output samples (as :func:`timbre.dsp.stft.invert_log_spectrogram`).
        n_iter: iterations (>= 0; 0 returns the initial phase's inverse).
        momentum: 0 gives classic Griffin-Lim; 0.99 is the fast variant.
        init_phase: starting phase in radians, shape of ``spectrogram``
            (e.g. the input's); ``None`` starts from random phase.
        seed: seeds the random start.

    Returns:
        float32 audio of shape (length,).

    Raises:
        ConfigError: bad shapes, ``n_iter < 0`` or ``momentum`` outside [0, 1).
    """
    stft.check_inverse_args(spectrogram, config, length)
    if not isinstance(n_iter, (int, np.integer)) or n_iter < 0:
        raise ConfigError(f"n_iter={n_iter!r} must be a non-negative integer")
    if not 0.0 <= momentum < 1.0:
        raise ConfigError(f"momentum={momentum} must lie in [0, 1)")
    if init_phase is None:
        init_phase = np.random.default_rng(seed).uniform(-np.pi, np.pi, spectrogram.shape)
    elif init_phase.shape != spectrogram.shape:
        raise ConfigError(f"init_phase: shape {init_phase.shape} (expected {spectrogram.shape})")
    magnitude = stft.denormalise(spectrogram, config) / stft.magnitude_scale(config)
    angles = np.exp(1j * init_phase).astype(np.complex64)
    rebuilt = np.zeros_like(angles)
    for _ in range(n_iter):
        previous = rebuilt
        rebuilt = stft.stft(stft.istft(magnitude * angles, config, length), config)[: config.n_bins]
        angles = rebuilt - (momentum / (1.0 + momentum)) * previous
        angles /= np.abs(angles) + 1e-16
    return stft.istft(magnitude * angles, config, length)


class SegmentedGriffinLim:
    """Griffin-Lim for streaming: segments of GL_SEGMENT_FRAMES with GL_CONTEXT_FRAMES each side.

    Each segment's phase comes from :func:`griffin_lim` run on
    the segment plus context (started from the input phase), so memory stays
    bounded; unlike whole-file Griffin-Lim, no phase information crosses
    further than the context, which leaves the result slightly different.
    """

    def __init__(self, config: SpectrogramConfig, iterations: int) -> None:
        self.config, self.iterations = config, iterations
        self.spec = np.zeros((self.config.n_bins, 0), dtype=np.float32)
        self.phase = np.zeros((self.config.n_bins, 0), dtype=np.float32)
        self.start = self.done = 0  # frame of spec[:, 0]; frames already given out

    def feed(
        self, spec: np.ndarray, phase: np.ndarray, n_samples: int | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Take final frames (normalised spectrogram, input phase); return frames with Griffin-Lim
        phase.

        ``n_samples``: the signal's length once all frames were given, else None.
        """
        final = n_samples is not None
        self.spec = np.concatenate([self.spec, spec], axis=1)
        self.phase = np.concatenate([self.phase, phase], axis=1)
        end, outputs, hop = self.start + self.spec.shape[1], [], self.config.hop_length
        while self.done < end and (
            final or end - self.done >= GL_SEGMENT_FRAMES + GL_CONTEXT_FRAMES
        ):
            a, b = self.done, min(self.done + GL_SEGMENT_FRAMES, end)
            lo, hi = max(self.start, a - GL_CONTEXT_FRAMES), min(end, b + GL_CONTEXT_FRAMES)
            span = self.spec[:, lo - self.start : hi - self.start]
            length = (
                n_samples - lo * hop if final and hi == end else max(1, (span.shape[1] - 1) * hop)
            )
            audio = griffin_lim(
                span,
                self.config,
                length,
                n_iter=self.iterations,
                init_phase=self.phase[:, lo - self.start : hi - self.start],
            )
            rebuilt = np.angle(
                stft.stft(audio, self.config)[: self.config.n_bins, a - lo : b - lo]
            ).astype(np.float32)
            outputs.append((self.spec[:, a - self.start : b - self.start], rebuilt))
            self.done = b
        keep_from = max(self.start, self.done - GL_CONTEXT_FRAMES)
        self.spec = self.spec[:, keep_from - self.start :]
        self.phase = self.phase[:, keep_from - self.start :]
        self.start = keep_from
        if not outputs:
            return self.spec[:, :0], self.phase[:, :0]
        return (
            np.concatenate([o[0] for o in outputs], axis=1),
            np.concatenate([o[1] for o in outputs], axis=1),
        )
