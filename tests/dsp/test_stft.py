import json
import subprocess
import sys
import warnings

import librosa
import numpy as np
import pytest
from conftest import sine
from helpers import SMALL_SPEC

from timbre.dsp import edges, tiling
from timbre.dsp import stft as sp
from timbre.dsp.phase import griffin_lim
from timbre.errors import ConfigError
from timbre.settings import SpectrogramConfig

CONFIGS = {
    "demo": SpectrogramConfig(),
    "small": SMALL_SPEC,
    "odd": SpectrogramConfig(sample_rate=16000, n_fft=255, hop_length=100, n_bins=32),
}  # the demo's and the small tests' settings, and a hop that does not divide n_fft


def _test_lengths(config: SpectrogramConfig) -> list[int]:
    """Shorter than a hop and than n_fft, n_fft +- 1, and every remainder modulo the hop."""
    short = [1, 2, config.hop_length - 1, config.n_fft - 1, config.n_fft, config.n_fft + 1]
    return short + [3 * config.n_fft + r for r in range(config.hop_length)]


def _librosa_stft(audio: np.ndarray, config: SpectrogramConfig) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="n_fft=.* is too large for input signal")
        return librosa.stft(
            audio,
            n_fft=config.n_fft,
            hop_length=config.hop_length,
            window="hann",
            center=True,
            pad_mode="constant",
        )


def _librosa_istft(spectrum: np.ndarray, config: SpectrogramConfig, length: int) -> np.ndarray:
    full = np.zeros((config.n_fft // 2 + 1, spectrum.shape[1]), dtype=np.complex64)
    full[: spectrum.shape[0]] = spectrum
    return librosa.istft(
        full,
        hop_length=config.hop_length,
        n_fft=config.n_fft,
        window="hann",
        center=True,
        length=length,
    )


def _band_limited(audio, config):
    """The audio with STFT bins at and above n_bins removed (what the inverse can give back)."""
    return _librosa_istft(sp.stft(audio, config)[: config.n_bins], config, len(audio))


@pytest.mark.parametrize("length", [1, 100, 511, 1023, 1024, 4097, 44101])
def test_inverse_with_same_phase_reconstructs(length, spec_config, rng):
    audio = (0.3 * rng.standard_normal(length)).astype(np.float32)
    spec, phase = sp.log_spectrogram(audio, spec_config)
    rebuilt = sp.invert_log_spectrogram(spec, phase, spec_config, length)
    target = _band_limited(audio, spec_config)
    assert rebuilt.shape == (length,) and rebuilt.dtype == np.float32
    assert np.linalg.norm(rebuilt - target) <= 1e-4 * np.linalg.norm(target)


def test_band_limited_signal_reconstructs(spec_config):
    audio = sine(440, 1.0, 44100) + sine(3000, 1.0, 44100, 0.2)
    spec, phase = sp.log_spectrogram(audio, spec_config)
    rebuilt = sp.invert_log_spectrogram(spec, phase, spec_config, len(audio))
    assert np.linalg.norm(rebuilt - audio) <= 1e-3 * np.linalg.norm(audio)


def test_shapes_and_range(spec_config, rng):
    audio = rng.uniform(-1, 1, 44100).astype(np.float32)
    spec, phase = sp.log_spectrogram(audio, spec_config)
    assert spec.shape == phase.shape == (256, 1 + 44100 // 512)
    assert spec.min() >= -1 and spec.max() <= 1
    assert np.all(np.abs(phase) <= np.pi + 1e-6)


def test_silence_is_minus_one(spec_config):
    spec, _ = sp.log_spectrogram(np.zeros(2048, np.float32), spec_config)
    assert np.all(spec == sp.SILENCE)


@pytest.mark.parametrize("amin", [2.0**-16, 1e-3])
def test_normalise_denormalise_exact(amin, rng):
    config = SpectrogramConfig(amin=amin)
    values = rng.uniform(-1, 1, (64, 64)).astype(np.float32)
    np.testing.assert_allclose(
        sp.normalise(sp.denormalise(values, config), config), values, atol=1e-6
    )
    magnitude = np.geomspace(amin / 10, 1.0, 500)
    np.testing.assert_allclose(
        sp.denormalise(sp.normalise(magnitude, config), config), magnitude, rtol=1e-5, atol=1e-9
    )


def test_full_scale_sine_has_magnitude_one(spec_config):
    freq = 60 * spec_config.sample_rate / spec_config.n_fft  # exactly on bin 60
    spec, _ = sp.log_spectrogram(
        sine(freq, 1.0, spec_config.sample_rate, amplitude=1.0), spec_config
    )
    peak = sp.denormalise(spec[:, 20:-20], spec_config).max(axis=0)
    np.testing.assert_allclose(peak, 1.0, rtol=1e-3)


def test_440_hz_peaks_in_expected_bin(spec_config):
    spec, _ = sp.log_spectrogram(sine(440, 1.0, 44100), spec_config)
    expected = round(440 * spec_config.n_fft / spec_config.sample_rate)
    assert np.all(np.argmax(spec[:, 5:-5], axis=0) == expected)


def test_stft_agrees_with_librosa(spec_config, rng):
    audio = rng.standard_normal(10000).astype(np.float32)
    spec, _ = sp.log_spectrogram(audio, spec_config)
    reference = np.abs(librosa.stft(audio, n_fft=1024, hop_length=512, pad_mode="constant"))[:256]
    np.testing.assert_allclose(
        sp.denormalise(spec, spec_config), reference * 2 / 512, rtol=1e-4, atol=1e-7
    )


@pytest.mark.parametrize("name", CONFIGS)
def test_stft_and_inverse_equal_librosa(name, rng):
    """The NumPy STFT and inverse (so that conversion need not import librosa) against
    librosa's, at every length class. Both inverses divide by the summed squared window, which
    falls to ~1e-10 on the last frame's tail: past the signal, only the lowest bins' inverse
    grows there to hundreds, so float32 rounding is relative (rtol).
    """
    config = CONFIGS[name]
    window = librosa.filters.get_window("hann", config.n_fft, fftbins=True)
    np.testing.assert_array_equal(sp.hann_window(config.n_fft), window)
    assert sp.magnitude_scale(config) == 2.0 / np.sum(window)
    for length in _test_lengths(config):
        audio = rng.uniform(-1, 1, length).astype(np.float32)
        expected = _librosa_stft(audio, config)
        spectrum = sp.stft(audio, config)
        assert spectrum.shape == expected.shape and spectrum.dtype == np.complex64
        np.testing.assert_allclose(spectrum, expected, rtol=0, atol=1e-5, err_msg=f"{length=}")
        for bins in (config.n_fft // 2 + 1, config.n_bins):
            for out_length in (length, max(1, length - 3), length + config.hop_length + 5):
                rebuilt = sp.istft(expected[:bins], config, out_length)
                assert rebuilt.shape == (out_length,) and rebuilt.dtype == np.float32
                np.testing.assert_allclose(
                    rebuilt,
                    _librosa_istft(expected[:bins], config, out_length),
                    rtol=1e-6,
                    atol=1e-5,
                    err_msg=f"{length=}, {bins=}, {out_length=}",
                )


@pytest.mark.parametrize("n_frames", [0, 1, 255, 256, 257, 1000])
@pytest.mark.parametrize("overlap", [0, 64, 128])
def test_tile_blend_is_identity(n_frames, overlap, rng):
    spec = rng.uniform(-1, 1, (8, n_frames)).astype(np.float32)
    tiles = tiling.tile(spec, 256, overlap)
    assert tiles.shape == (len(tiling.tile_starts(n_frames, 256, overlap)), 8, 256)
    np.testing.assert_allclose(tiling.blend(tiles, n_frames, overlap), spec, atol=1e-6)


def test_tiles_are_flush_and_padded_with_silence(rng):
    spec = rng.uniform(-1, 1, (4, 300)).astype(np.float32)
    tiles = tiling.tile(spec, 256, 0)
    assert list(tiling.tile_starts(300, 256, 0)) == [0, 44]
    np.testing.assert_array_equal(tiles[-1], spec[:, -256:])
    short = tiling.tile(spec[:, :10], 256, 0)
    assert short.shape == (1, 4, 256) and np.all(short[0, :, 10:] == sp.SILENCE)
    assert tiling.tile(spec[:, :0], 256, 64).shape == (0, 4, 256)


def test_tile_steps_by_tile_minus_overlap():
    assert list(tiling.tile_starts(1000, 256, 128)) == [0, 128, 256, 384, 512, 640, 744]


def test_blend_with_context_window_is_identity(rng):
    spec = rng.uniform(-1, 1, (4, 700)).astype(np.float32)
    window = tiling.blend_window(256, fade_frames=32, context_frames=32)
    np.testing.assert_allclose(
        tiling.blend(tiling.tile(spec, 256, 128), 700, 128, window), spec, atol=1e-5
    )
    assert window.min() == tiling.WINDOW_FLOOR and window.max() == 1.0


@pytest.mark.parametrize("length", [30000, 44100])
def test_griffin_lim_from_true_phase_converges(length, spec_config, rng):
    audio = sine(440, length / 44100, 44100) + 0.05 * rng.standard_normal(length).astype(np.float32)
    spec, phase = sp.log_spectrogram(audio, spec_config)
    rebuilt = griffin_lim(spec, spec_config, length, n_iter=16, init_phase=phase)
    magnitude = sp.denormalise(spec, spec_config) / sp.magnitude_scale(spec_config)
    assert rebuilt.shape == (length,)
    assert sp.magnitude_error(rebuilt, magnitude, spec_config) < 0.05


def test_griffin_lim_improves_on_random_phase(spec_config):
    audio = sine(440, 0.5, 44100) + sine(1320, 0.5, 44100, 0.2)
    spec, _ = sp.log_spectrogram(audio, spec_config)
    magnitude = sp.denormalise(spec, spec_config) / sp.magnitude_scale(spec_config)
    start = sp.magnitude_error(
        griffin_lim(spec, spec_config, len(audio), n_iter=0), magnitude, spec_config
    )
    after = sp.magnitude_error(
        griffin_lim(spec, spec_config, len(audio), n_iter=32), magnitude, spec_config
    )
    assert after < start / 2


def test_errors(spec_config):
    with pytest.raises(ConfigError, match="non-empty 1-D"):
        sp.log_spectrogram(np.zeros(0, np.float32), spec_config)
    with pytest.raises(ConfigError, match="non-empty 1-D"):
        sp.log_spectrogram(np.zeros((2, 100), np.float32), spec_config)
    spec = np.zeros((256, 3), np.float32)
    with pytest.raises(ConfigError, match="expected \\(256, n_frames\\)"):
        sp.invert_log_spectrogram(np.zeros((10, 3)), np.zeros((10, 3)), spec_config, 1024)
    with pytest.raises(ConfigError, match="length=0 must be a positive integer"):
        sp.invert_log_spectrogram(spec, spec, spec_config, 0)
    with pytest.raises(ConfigError, match="3 frames for length=100"):
        sp.invert_log_spectrogram(spec, spec, spec_config, 100)
    with pytest.raises(ConfigError, match="phase: shape"):
        sp.invert_log_spectrogram(spec, np.zeros((256, 2)), spec_config, 1024)
    with pytest.raises(ConfigError, match="n_iter=-1"):
        griffin_lim(spec, spec_config, 1024, n_iter=-1)
    with pytest.raises(ConfigError, match="momentum=1.5"):
        griffin_lim(spec, spec_config, 1024, momentum=1.5)
    with pytest.raises(ConfigError, match="init_phase: shape"):
        griffin_lim(spec, spec_config, 1024, init_phase=np.zeros((2, 2)))
    with pytest.raises(ConfigError, match="tile_frames=0"):
        tiling.tile_starts(10, 0)
    with pytest.raises(ConfigError, match="overlap=256"):
        tiling.tile_starts(10, 256, 256)
    with pytest.raises(ConfigError, match="n_frames=-1"):
        tiling.tile_starts(-1, 256)
    with pytest.raises(ConfigError, match="expected \\(n_bins, n_frames\\)"):
        tiling.tile(np.zeros(10), 256)
    with pytest.raises(ConfigError, match="2 tiles for n_frames=100"):
        tiling.blend(np.zeros((2, 4, 256)), 100)
    with pytest.raises(ConfigError, match="do not fit a tile"):
        tiling.blend_window(256, 10, context_frames=128)


def _loaded_after(code: str, packages: tuple[str, ...]) -> list[str]:
    """Run ``code`` in a fresh interpreter; the ``packages`` whose modules it then holds."""
    code += (
        "\nimport json, sys\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & {set(packages)!r})))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_import_does_not_load_tensorflow():
    code = "import timbre.dsp.stft, timbre.io.audio, timbre.settings"
    assert _loaded_after(code, ("tensorflow", "keras")) == []


CONVERSION = """
import numpy as np, soundfile as sf
from timbre.dsp import level as lv
from timbre.settings import SpectrogramConfig
from timbre.convert.converter import Converter

class Identity:  # a Generator without a model: tiles in, tiles out
    backend, precision = "onnx", "float32"
    def __init__(self, config):
        self.tile_shape = (config.n_bins, config.tile_frames)
    def __call__(self, tiles):
        return tiles

config = SpectrogramConfig()
converter = Converter(Identity(config), config)
tone = (0.5 * np.sin(np.arange(config.sample_rate) * 0.06)).astype(np.float32)
assert np.max(np.abs(converter.convert(tone, sample_rate=config.sample_rate) - tone)) < 0.05
sf.write({input!r}, tone, config.sample_rate)
converter.convert_file({input!r}, {output!r})
assert lv.PeakLimiter(config.sample_rate).feed(np.full(5000, 2.0, np.float32)).max() < 1
"""


@pytest.fixture(scope="module")
def conversion_imports(tmp_path_factory) -> list[str]:
    """Packages a fresh interpreter holds after converting with the input's phase: in memory,
    a file (streamed) and the limiter.
    """
    folder = tmp_path_factory.mktemp("conversion")
    code = CONVERSION.format(input=str(folder / "in.wav"), output=str(folder / "out.wav"))
    return _loaded_after(code, ("librosa", "scipy", "numba"))


@pytest.mark.parametrize("package", ["librosa", "scipy", "numba"])
def test_conversion_imports_no_librosa_scipy_or_numba(conversion_imports, package):
    """predict.py's start-up: librosa, SciPy and numba cost it ~1 s (imports, the first STFT)."""
    assert package not in conversion_imports


def test_tile_borders():
    assert list(tiling.tile_borders(1000, 256, 128)) == [128, 256, 384, 512, 640, 744, 768, 896]
    assert list(tiling.tile_borders(100, 256, 0)) == []


@pytest.mark.parametrize("length", [1, 2, 7, 100, 5000, 30000])
def test_pad_edges_keeps_the_signal_and_adds_the_pad(length, rng):
    audio = (0.3 * rng.standard_normal(length)).astype(np.float32)
    padded = edges.pad_edges(audio, 1024, 16000)
    assert padded.shape == (length + 2048,) and padded.dtype == np.float32
    np.testing.assert_array_equal(padded[1024:-1024], audio)
    assert (
        np.all(np.isfinite(padded)) and np.max(np.abs(padded)) <= 2 * np.max(np.abs(audio)) + 1e-6
    )
    np.testing.assert_array_equal(edges.pad_edges(audio, 0, 16000), audio)


def test_pad_edges_continues_a_tone_and_a_dc_offset():
    """Both ends go on as the signal went: a tone cut anywhere continues (within 1 % over the
    first 10 ms), a constant stays constant, silence stays silent.
    """
    rate, pad = 44100, 8704
    tone = sine(440, 1.0 + 2 * pad / rate, rate, 0.5) + sine(1250, 1.0 + 2 * pad / rate, rate, 0.2)
    tone += np.float32(0.1)
    cut = tone[pad:-pad]
    padded = edges.pad_edges(cut, pad, rate)
    near = slice(pad - 441, pad), slice(len(padded) - pad, len(padded) - pad + 441)
    for part in near:
        assert np.max(np.abs(padded[part] - tone[part])) < 0.01 * np.max(np.abs(tone))
    np.testing.assert_allclose(edges.pad_edges(np.full(500, 0.25, np.float32), 300, rate), 0.25)
    assert np.all(edges.pad_edges(np.zeros(500, np.float32), 300, rate) == 0)


@pytest.mark.parametrize("remainder", [0, 1, 255, 496, 500, 505, 511])
def test_padded_inversion_has_no_edge_blow_up(remainder, spec_config, rng):
    """The cause of the edge artefacts, at the default settings: a magnitude that is not the
    signal's own, inverted with the input's phase. Unpadded, the last samples of lengths with a
    remainder of 496-511 modulo the hop blow up (the envelope of the last frame's tail is ~1e-5);
    padded and trimmed, the ends are like the middle.
    """
    n = 44100 // 512 * 512 + remainder
    audio = (0.3 * rng.standard_normal(n)).astype(np.float32)
    pad = 512

    def perturbed_inverse(signal: np.ndarray) -> np.ndarray:
        spec, phase = sp.log_spectrogram(signal, spec_config)
        noise = np.random.default_rng(0).uniform(-0.2, 0.2, spec.shape)
        return sp.invert_log_spectrogram(
            np.clip(spec + noise, -1, 1), phase, spec_config, len(signal)
        )

    def end_ratio(out: np.ndarray) -> float:
        return float(np.max(np.abs(out[-64:])) / np.max(np.abs(out[4410:-4410])))

    padded = perturbed_inverse(edges.pad_edges(audio, pad, 44100))[pad : pad + n]
    assert end_ratio(padded) < 2.0
    if remainder >= 496:
        assert end_ratio(perturbed_inverse(audio)) > 2.0  # the bug the padding removes


def _scipy_extrapolate(history, count, sample_rate, nudge=0.0):
    """:func:`timbre.dsp.edges.extrapolate` as it was, with SciPy; ``nudge`` scales the lag-0
    autocorrelation by ``1 + nudge`` more (a float64 rounding of the system's input).
    """
    from scipy import linalg, signal

    seg = np.asarray(history, dtype=np.float64)
    mean = float(np.mean(seg)) if seg.size else 0.0
    seg = seg - mean
    order = min(max(1, round(edges.EDGE_ORDER_S * sample_rate)), len(seg) // 4)
    if order < 2 or float(np.sum(np.square(seg))) <= 1e-20 * max(1, len(seg)):
        return np.full(count, mean, dtype=np.float32)
    size = 1 << int(np.ceil(np.log2(2 * len(seg))))
    spectrum = np.fft.rfft(seg * np.hanning(len(seg)), size)
    lags = np.fft.irfft(np.abs(spectrum) ** 2, size)[: order + 1]
    lags[0] *= (1.0 + 1e-9) * (1.0 + nudge)
    coefficients = linalg.solve_toeplitz(lags[:order], -lags[1:])
    den = np.concatenate([[1.0], coefficients])
    state = signal.lfiltic([1.0], den, seg[::-1][:order])
    ahead, _ = signal.lfilter([1.0], den, np.zeros(count), zi=state)
    limit = 2.0 * float(np.max(np.abs(seg)))
    return (np.clip(ahead, -limit, limit) + mean).astype(np.float32)


def _scipy_pad_edges(audio, pad_samples, sample_rate, nudge=0.0):
    fit = edges.edge_fit_samples(sample_rate)
    before = _scipy_extrapolate(audio[:fit][::-1], pad_samples, sample_rate, nudge)[::-1]
    after = _scipy_extrapolate(audio[-fit:], pad_samples, sample_rate, nudge)
    return np.concatenate([before, audio, after])


@pytest.mark.parametrize("rate", [16000, 44100])
@pytest.mark.parametrize("kind", ["noise", "decay", "tone", "chord"])
@pytest.mark.parametrize("length", [20, 500, 30000])
def test_pad_edges_equals_the_scipy_reference(rate, kind, length, rng):
    """The NumPy prediction (Levinson's recursion and the all-pole filter written out, so that
    conversion need not import SciPy) against SciPy's solve_toeplitz and lfilter, over the 17
    hops conversion predicts. Noise and a noisy decay agree to float32 rounding; a clean tone or
    chord makes the Toeplitz system nearly singular (condition ~1e11), and there SciPy's own
    result moves by up to ~1e-3 far out when lag 0 changes by one or two float64 ulps: the NumPy
    result stays within a few times that spread (within float32 rounding where it is nil).
    """
    t = np.arange(length) / rate
    audio = {
        "noise": 0.3 * rng.standard_normal(length),
        "decay": np.exp(-8 * t) * np.sin(2 * np.pi * 220 * t) + 0.01 * rng.standard_normal(length),
        "tone": np.sin(2 * np.pi * 1000 * t),
        "chord": sum(0.2 * np.sin(2 * np.pi * f * t + f) for f in (261.6, 329.6, 392.0, 523.3)),
    }[kind].astype(np.float32)
    pad = 17 * (512 if rate == 44100 else 128)
    expected = _scipy_pad_edges(audio, pad, rate)
    spread = max(
        np.max(np.abs(_scipy_pad_edges(audio, pad, rate, k * 2.0**-52) - expected))
        for k in (-2, -1, 1, 2)
    )
    if kind in ("noise", "decay"):
        assert spread < 1e-6
    np.testing.assert_allclose(
        edges.pad_edges(audio, pad, rate), expected, rtol=0, atol=1e-6 + 3 * spread
    )
