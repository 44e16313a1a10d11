import numpy as np
import pytest

from conftest import sine
from timbre import metrics
from timbre import spectrogram as sp
from timbre.config import SpectrogramConfig
from timbre.errors import ConfigError


def test_seam_ratio_finds_cut_and_paste_seams(rng):
    config = SpectrogramConfig(sample_rate=16000, n_fft=256, hop_length=128, n_bins=64, tile_frames=32)
    audio = sine(500, 3.0, 16000) + 0.01 * rng.standard_normal(48000).astype(np.float32)
    borders = sp.tile_borders(sp.n_frames_for(len(audio), config), 32)
    assert metrics.seam_ratio(audio, config, borders) == pytest.approx(1.0, abs=0.3)
    seamed = audio.copy()
    for border in borders:  # a jump in level at every border, as cut-and-paste tiles give
        seamed[border * 128:] *= 0.5 if border % 64 else 2.0
    assert metrics.seam_ratio(seamed, config, borders) > 2.0
    assert np.isnan(metrics.seam_ratio(audio, config, []))
    with pytest.raises(ConfigError, match="border_frames: values must lie in"):
        metrics.seam_ratio(audio, config, [0])
