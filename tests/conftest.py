"""Shared fixtures: a seeded rng, spectrogram settings, tiny note banks.

Plain helper functions and constants live in ``helpers.py``.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np
import pytest
from helpers import (
    SMALL_SPEC,
    sine,  # noqa: F401  (re-exported for test files that still import it from here)
    write_nsynth_folder,
)

from timbre.settings import SpectrogramConfig


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def spec_config() -> SpectrogramConfig:
    """The default spectrogram settings."""
    return SpectrogramConfig()


@pytest.fixture
def small_spec_config() -> SpectrogramConfig:
    """Small settings for fast model tests: 16 kHz, 32 bins x 32-frame tiles."""
    return SMALL_SPEC


@pytest.fixture(scope="session")
def nsynth_folder(tmp_path_factory):
    """A session-wide tiny NSynth folder (treat as read-only)."""
    return write_nsynth_folder(tmp_path_factory.mktemp("nsynth"))


@pytest.fixture(scope="session")
def soundfont_banks(tmp_path_factory):
    """keyboard_acoustic and string_acoustic rendered from the bundled SoundFont.

    Pitches 57, 60 and 69 only.
    """
    from timbre.data.notebank import prepare_soundfont_bank

    return prepare_soundfont_bank(
        tmp_path_factory.mktemp("sf_bank"),
        ["keyboard_acoustic", "string_acoustic"],
        progress=False,
        pitches=(57, 60, 69),
    )
