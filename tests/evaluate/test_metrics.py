import numpy as np
import pytest
from helpers import sine

from timbre.dsp import stft as sp
from timbre.dsp import tiling
from timbre.errors import ConfigError
from timbre.evaluate import metrics
from timbre.settings import SpectrogramConfig


def test_seam_ratio_finds_cut_and_paste_seams(rng):
    config = SpectrogramConfig(
        sample_rate=16000, n_fft=256, hop_length=128, n_bins=64, tile_frames=32
    )
    audio = sine(500, 3.0, 16000) + 0.01 * rng.standard_normal(48000).astype(np.float32)
    borders = tiling.tile_borders(sp.n_frames_for(len(audio), config), 32)
    assert metrics.seam_ratio(audio, config, borders) == pytest.approx(1.0, abs=0.3)
    seamed = audio.copy()
    for border in borders:  # a jump in level at every border, as cut-and-paste tiles give
        seamed[border * 128 :] *= 0.5 if border % 64 else 2.0
    assert metrics.seam_ratio(seamed, config, borders) > 2.0
    assert np.isnan(metrics.seam_ratio(audio, config, []))
    with pytest.raises(ConfigError, match="border_frames: values must lie in"):
        metrics.seam_ratio(audio, config, [0])


SR = 16000
DISTANCES = {
    "lsd_db": metrics.log_spectral_distance,
    "sc": metrics.spectral_convergence,
    "logmel_l1_db": metrics.logmel_l1,
    "loudness_l1_db": metrics.loudness_l1,
}


@pytest.fixture
def chord():
    """1 s of an A major triad with a decaying envelope and a silent tail."""
    audio = sine(440, 1.0, SR, 0.3) + sine(554.37, 1.0, SR, 0.2) + sine(659.26, 1.0, SR, 0.2)
    envelope = np.exp(-np.linspace(0, 3, len(audio)))
    envelope[-2000:] = 0.0
    return (audio * envelope).astype(np.float32)


def test_identical_signals_score_perfectly(chord):
    scores = metrics.score(chord, chord, SR)
    assert set(scores) == set(metrics.METRICS)
    for name in DISTANCES:
        assert scores[name] == 0.0, name
    assert scores["chroma_cos"] == pytest.approx(1.0, abs=1e-6)
    assert np.isnan(scores["seam_ratio"])  # no tile borders given


def test_metrics_worsen_monotonically_with_noise(chord, rng):
    noise = rng.standard_normal(len(chord)).astype(np.float32)
    levels = [metrics.score(chord + level * noise, chord, SR) for level in (0.003, 0.03, 0.3)]
    for name in DISTANCES:
        values = [scores[name] for scores in levels]
        assert 0 < values[0] < values[1] < values[2], (name, values)
    similarities = [scores["chroma_cos"] for scores in levels]
    assert 1 > similarities[0] > similarities[1] > similarities[2], similarities


def test_gain_of_one_half_gives_hand_computed_values(rng):
    reference = 0.1 * rng.standard_normal(SR).astype(np.float32)  # every bin well above the floor
    scores = metrics.score(0.5 * reference, reference, SR)
    six_db = 20 * np.log10(2)  # 6.0206 dB
    assert scores["lsd_db"] == pytest.approx(six_db, abs=1e-3)
    assert scores["logmel_l1_db"] == pytest.approx(six_db, abs=1e-3)
    assert scores["loudness_l1_db"] == pytest.approx(six_db, abs=1e-3)
    assert scores["sc"] == pytest.approx(0.5, abs=1e-5)  # ||0.5 M - M|| / ||M||
    assert scores["chroma_cos"] == pytest.approx(1.0, abs=1e-6)  # chroma ignores gain


def test_silent_estimate_has_spectral_convergence_one(chord):
    assert metrics.spectral_convergence(np.zeros_like(chord), chord, SR) == pytest.approx(1.0)


def test_loudness_follows_the_a_weighting_curve():
    # Same amplitude, 100 Hz against 1 kHz: A(100 Hz) = -19.1 dB, A(1 kHz) = 0 dB.
    low, mid = sine(100, 1.0, SR), sine(1000, 1.0, SR)
    assert metrics.loudness_l1(low, mid, SR) == pytest.approx(19.1, abs=0.3)


def test_chroma_hears_pitch_class_not_octave():
    a4 = sine(440, 1.0, SR)
    assert metrics.chroma_cosine(sine(880, 1.0, SR), a4, SR) > 0.95  # octave: same pitch class
    assert metrics.chroma_cosine(sine(440 * 2**0.5, 1.0, SR), a4, SR) < 0.1  # tritone: none shared


def test_band_limit_ignores_content_above_max_hz(chord, rng):
    high = 0.05 * sine(7000, 1.0, SR)
    assert (
        metrics.log_spectral_distance(chord + high, chord, SR, max_hz=4000) < 0.1
    )  # window leakage only
    assert metrics.log_spectral_distance(chord + high, chord, SR, max_hz=8000) > 1.0


def test_silent_reference_warns_and_gives_nan():
    silent = np.zeros(SR, dtype=np.float32)
    with pytest.warns(UserWarning, match="reference: silent"):
        assert np.isnan(metrics.log_spectral_distance(silent, silent, SR))
    with pytest.warns(UserWarning, match="reference: silent"):
        assert np.isnan(metrics.chroma_cosine(silent, silent, SR))


def test_score_adds_seam_ratio_with_borders(chord):
    config = SpectrogramConfig(sample_rate=SR, n_fft=256, hop_length=128, n_bins=64, tile_frames=32)
    borders = tiling.tile_borders(sp.n_frames_for(len(chord), config), 32)
    scores = metrics.score(chord, chord, SR, spectrogram=config, border_frames=borders)
    assert scores["seam_ratio"] == metrics.seam_ratio(chord, config, borders)
    with pytest.raises(ConfigError, match=r"spectrogram: sample_rate=44100 \(expected 16000"):
        metrics.score(chord, chord, SR, spectrogram=SpectrogramConfig(), border_frames=borders)


@pytest.mark.parametrize("metric", [*DISTANCES.values(), metrics.chroma_cosine])
def test_metrics_check_their_arguments(metric, chord):
    with pytest.raises(ConfigError, match=r"estimate: shape \(100,\) \(expected \(16000,\)"):
        metric(chord[:100], chord, SR)
    with pytest.raises(
        ConfigError, match=r"reference: shape \(0,\) \(expected a non-empty 1-D array\)"
    ):
        metric(chord[:0], chord[:0], SR)
    with pytest.raises(ConfigError, match="non-finite samples"):
        metric(np.full_like(chord, np.nan), chord, SR)
    with pytest.raises(ConfigError, match="sample_rate=0 must be a positive integer"):
        metric(chord, chord, 0)


def test_band_and_resolution_arguments_are_checked(chord):
    with pytest.raises(ConfigError, match="max_hz=0 must be positive"):
        metrics.log_spectral_distance(chord, chord, SR, max_hz=0)
    with pytest.raises(
        ConfigError, match=r"fft_sizes=\(\) \(expected one or more positive FFT sizes\)"
    ):
        metrics.spectral_convergence(chord, chord, SR, fft_sizes=())


def test_flatness_is_high_for_white_noise_and_low_for_a_harmonic_tone(rng):
    noise = (0.1 * rng.standard_normal(2 * SR)).astype(np.float32)
    tone = sum(sine(220 * k, 2.0, SR, 0.3 / k) for k in range(1, 8)).astype(np.float32)
    assert 0.75 < metrics.spectral_flatness(noise, SR) <= 1.0  # about 1 (0.84: finite averaging)
    assert metrics.spectral_flatness(tone, SR) < 1e-3
    assert metrics.flatness_ratio(tone, tone, SR) == pytest.approx(1.0)
    assert metrics.flatness_ratio(noise, tone, SR) > 1000  # noise fills every valley


def test_flatness_ratio_grows_with_the_haze_and_ignores_the_gain(chord, rng):
    noise = rng.standard_normal(len(chord)).astype(np.float32)
    ratios = [metrics.flatness_ratio(chord + level * noise, chord, SR) for level in (1e-4, 1e-3)]
    assert 1.0 < ratios[0] < ratios[1]
    assert metrics.flatness_ratio(chord, 0.5 * chord, SR) == pytest.approx(1.0, rel=0.05)
    sounding = slice(0, 8000)  # frames the estimate keeps silent would count as flat
    hazy = chord[sounding] + 1e-3 * noise[sounding]
    assert metrics.flatness_ratio(chord[sounding], hazy, SR) < 1.0  # sparser: below 1
