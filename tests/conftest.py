"""Shared fixtures: a seeded rng, a sine helper, small spectrogram settings."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np
import pytest

from timbre.config import SpectrogramConfig


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def sine(freq_hz: float, seconds: float, sample_rate: int, amplitude: float = 0.5) -> np.ndarray:
    """A float32 sine of ``seconds`` at ``sample_rate``."""
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    return (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


@pytest.fixture
def spec_config() -> SpectrogramConfig:
    """The DESIGN.md defaults."""
    return SpectrogramConfig()


@pytest.fixture
def small_spec_config() -> SpectrogramConfig:
    """Small settings for fast model tests: 16 kHz, 32 bins x 32-frame tiles."""
    return SpectrogramConfig(sample_rate=16000, n_fft=256, hop_length=128, n_bins=32, tile_frames=32)
