import numpy as np
import pytest
import soundfile as sf
from conftest import sine

from timbre.dsp import level as lv
from timbre.errors import AudioError
from timbre.io import audio


def test_load_mixes_to_mono_and_resamples(tmp_path):
    left, right = sine(440, 1.0, 48000), sine(440, 1.0, 48000, 0.1)
    path = tmp_path / "stereo.flac"
    sf.write(path, np.stack([left, right], axis=1), 48000)
    samples, rate = audio.load(path, 44100)
    assert rate == 44100 and samples.dtype == np.float32 and samples.ndim == 1
    assert abs(len(samples) - 44100) <= 1
    peak_bin = np.argmax(np.abs(np.fft.rfft(samples)))
    assert abs(peak_bin * 44100 / len(samples) - 440) < 2
    np.testing.assert_allclose(np.max(np.abs(samples[1000:-1000])), 0.3, rtol=0.01)


@pytest.mark.parametrize("subtype,atol", [("FLOAT", 0), ("PCM_16", 1 / 32767), ("PCM_24", 1e-6)])
def test_save_load_round_trip(tmp_path, rng, subtype, atol):
    samples = (0.5 * rng.uniform(-1, 1, 1000)).astype(np.float32)
    path = tmp_path / "sub" / "x.wav"
    audio.save(path, samples, 16000, subtype)
    loaded, rate = audio.load(path)
    assert rate == 16000
    np.testing.assert_allclose(loaded, samples, atol=atol)
    assert [p.name for p in path.parent.iterdir()] == ["x.wav"]  # no temporary left


def test_save_failure_leaves_nothing(tmp_path):
    path = tmp_path / "x.wav"
    with pytest.raises(RuntimeError):
        with audio.AudioWriter(path, 16000) as writer:
            writer.write(np.zeros(10))
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_read_blocks_matches_load(tmp_path, rng):
    samples = (0.5 * rng.uniform(-1, 1, 50000)).astype(np.float32)
    path = tmp_path / "x.wav"
    audio.save(path, samples, 22050)
    whole, _ = audio.load(path, 44100)
    streamed = np.concatenate(list(audio.read_blocks(path, 44100, block_frames=4096)))
    assert len(streamed) == len(whole)
    np.testing.assert_allclose(streamed, whole, atol=1e-4)
    same_rate = np.concatenate(list(audio.read_blocks(path, None, block_frames=4096)))
    np.testing.assert_array_equal(same_rate, samples)


def test_info(tmp_path):
    path = tmp_path / "x.wav"
    sf.write(path, np.zeros((300, 2)), 8000)
    assert audio.info(path) == audio.AudioInfo(sample_rate=8000, frames=300, channels=2)


def test_errors(tmp_path):
    with pytest.raises(AudioError, match="missing.wav: file not found"):
        audio.load(tmp_path / "missing.wav")
    with pytest.raises(AudioError, match="is a folder"):
        audio.load(tmp_path)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00not really audio")
    with pytest.raises(AudioError, match="bad.wav: not a readable audio file"):
        audio.load(bad)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0), 16000)
    with pytest.raises(AudioError, match="empty.wav: zero-length audio"):
        audio.load(empty)
    with pytest.raises(AudioError, match="zero-length audio"):
        list(audio.read_blocks(empty))
    nan = tmp_path / "nan.wav"
    sf.write(nan, np.array([0.0, np.nan, 0.1], np.float32), 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="nan.wav: 1 non-finite samples"):
        audio.load(nan)
    with pytest.raises(AudioError, match="non-finite samples"):
        list(audio.read_blocks(nan))
    with pytest.raises(AudioError, match="unknown subtype"):
        audio.save(tmp_path / "x.wav", np.zeros(3), 16000, "PCM_8")
    with pytest.raises(AudioError, match="unknown audio format '.xyz'"):
        audio.save(tmp_path / "x.xyz", np.zeros(3), 16000)


def test_warnings(tmp_path):
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(100), 16000)
    with pytest.warns(UserWarning, match="silent.wav: audio is silent"):
        audio.load(silent)
    loud = tmp_path / "loud.wav"
    sf.write(loud, np.ones(100) * 1.5, 16000, subtype="FLOAT")
    with pytest.warns(UserWarning, match="loud.wav: audio may be clipped"):
        audio.load(loud)
    with pytest.warns(UserWarning, match="audio is silent"):
        list(audio.read_blocks(silent))


def test_is_audio_file(tmp_path):
    for name in ("a.wav", "b.FLAC", ".hidden.wav", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "folder.wav").mkdir()
    assert sorted(p.name for p in tmp_path.iterdir() if audio.is_audio_file(p)) == [
        "a.wav",
        "b.FLAC",
    ]


# --- Level measure and limiter ---------------------------------------------------------------


def playing(seconds: float, sample_rate: int = 16000, seed: int = 0) -> np.ndarray:
    """Notes (0.3-0.8 s, -13.5 dBFS RMS) with long pauses (0.5-2 s) between them."""
    rng = np.random.default_rng(seed)
    parts = []
    while sum(map(len, parts)) < seconds * sample_rate:
        note = sine(rng.uniform(200, 900), rng.uniform(0.3, 0.8), sample_rate, 0.3)
        parts += [note, np.zeros(int(rng.uniform(0.5, 2.0) * sample_rate), np.float32)]
    return np.concatenate(parts)[: int(seconds * sample_rate)]


def test_active_level_of_a_sine_and_of_silence():
    assert lv.active_level_db(sine(440, 2.0, 16000, 1.0), 16000) == pytest.approx(-3.01, abs=0.01)
    assert lv.active_level_db(sine(440, 0.1, 16000, 0.1), 16000) == pytest.approx(-23.0, abs=0.1)
    assert lv.active_level_db(np.zeros(50000), 16000) == float("-inf")
    assert lv.active_level_db(np.zeros(0), 16000) == float("-inf")


def test_active_level_moves_exactly_with_gain():
    music = playing(20.0)
    level = lv.active_level_db(music, 16000)
    for gain_db in (-60, -40, -20, -6, 6):
        scaled = music * np.float32(10 ** (gain_db / 20))
        assert lv.active_level_db(scaled, 16000) == pytest.approx(level + gain_db, abs=1e-3)


def test_active_level_ignores_pauses_and_one_transient():
    """Pauses hardly move it (the RMS of the whole file drops 5 dB, this 2.3: blocks that
    straddle a pause still count); a click does not move it at all, a power mean moves by dB.
    """
    music = playing(30.0)
    level = lv.active_level_db(music, 16000)
    notes_only = lv.active_level_db(music[np.abs(music) > 0], 16000)
    assert notes_only == pytest.approx(20 * np.log10(0.3 / np.sqrt(2)), abs=0.05)
    plain_rms = 10 * np.log10(np.mean(music.astype(np.float64) ** 2))
    assert notes_only - 3 < level < notes_only and plain_rms < level - 2
    clicked = music * np.float32(0.01)
    clicked[160000:160080] = 0.9  # 5 ms at -1 dBFS, 37 dB over the playing level
    assert lv.active_level_db(clicked, 16000) == pytest.approx(level - 40, abs=0.25)
    power_mean = 10 * np.log10(np.mean(clicked.astype(np.float64) ** 2))
    assert power_mean > 10 * np.log10(np.mean((music * 0.01).astype(np.float64) ** 2)) + 2


def test_level_meter_does_not_care_how_the_audio_was_cut():
    music = playing(7.3)
    meter = lv.LevelMeter(16000)
    for start in range(0, len(music), 777):
        meter.add(music[start : start + 777])
    assert meter.level_db() == pytest.approx(lv.active_level_db(music, 16000), abs=1e-9)


def limit(samples: np.ndarray, block: int, sample_rate: int = 16000):
    limiter = lv.PeakLimiter(sample_rate)
    parts = [limiter.feed(samples[i : i + block]) for i in range(0, len(samples), block)]
    return np.concatenate(parts + [limiter.finish()]), limiter


def test_limiter_leaves_quiet_audio_alone():
    music = playing(3.0)
    out, limiter = limit(music, 1000)
    np.testing.assert_array_equal(out, music)
    assert limiter.reduction_db == 0.0 and limiter.limited == 0


@pytest.mark.parametrize("block", [1, 333, 1 << 20])
def test_limiter_never_exceeds_the_ceiling_and_acts_only_near_overloads(block):
    music = playing(3.0)
    music[8000] = 4.0  # one wild sample (+12 dBFS)
    music[30000:32000] *= 5  # a loud passage
    out, limiter = limit(music, block)
    assert out.shape == music.shape
    assert np.max(np.abs(out)) <= lv.LIMIT_CEILING * (1 + 1e-6)
    reach = 2 * round(lv.LIMIT_RAMP_S * 16000)
    near = np.convolve(np.abs(music) > lv.LIMIT_CEILING, np.ones(2 * reach + 1), "same") > 0
    np.testing.assert_array_equal(out[~near], music[~near])
    assert np.mean(near) < 0.1 and 0 < limiter.limited <= np.count_nonzero(near)
    assert limiter.reduction_db == pytest.approx(20 * np.log10(lv.LIMIT_CEILING / 4.0), abs=0.01)
    whole, _ = limit(music, len(music))
    np.testing.assert_allclose(out, whole, atol=1e-6)


def test_limiter_gain_moves_in_ramps():
    """No step in the gain: neighbouring samples of a steady tone are scaled alike."""
    tone = sine(100, 1.0, 16000, 0.5)
    tone[8000:8010] = 3.0
    out, _ = limit(tone, 4096)
    gain = np.divide(out, tone, out=np.ones_like(out), where=np.abs(tone) > 0.1)
    steady = (np.abs(tone) > 0.1) & (np.abs(tone) < 1)
    steps = np.abs(np.diff(gain))[steady[1:] & steady[:-1]]
    assert gain.min() < 0.5 and steps.max() < 0.05


@pytest.mark.parametrize("size", [1, 3, 7, 883])  # odd, centred: the limiter's 2 W + 1
def test_window_minima_equal_scipy_minimum_filter(size, rng):
    """The limiter's running minimum (NumPy, so that conversion need not import SciPy) is
    scipy.ndimage.minimum_filter1d on every window that fits, on noise and on the plateaus of
    ones the limiter sees.
    """
    from scipy import ndimage

    half = size // 2
    for length in [size, size + 1, 3 * size - 1, 3 * size, 5000]:
        noise = rng.uniform(0, 1, length)
        plateaus = np.where(rng.uniform(0, 1, length) < 0.995, 1.0, noise)
        for values in (noise, plateaus):
            expected = ndimage.minimum_filter1d(values, size)[half : length - half]
            np.testing.assert_array_equal(lv._window_minima(values, size), expected)


def test_resampler_streams_like_resample():
    samples = sine(440, 1.0, 22050, 0.5)
    stream = audio.Resampler(22050, 16000)
    parts = [stream.feed(samples[i : i + 1000]) for i in range(0, len(samples), 1000)]
    parts.append(stream.feed(np.zeros(0, np.float32), last=True))
    streamed = np.concatenate(parts)
    whole = audio.resample(samples, 22050, 16000)
    assert abs(len(streamed) - len(whole)) <= 1
    n = min(len(streamed), len(whole))
    np.testing.assert_allclose(streamed[:n], whole[:n], atol=1e-3)
    assert audio.Resampler(8000, 8000).feed(samples) is not None


def test_read_blocks_can_skip_the_level_warning(tmp_path, recwarn):
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(100), 16000)
    list(audio.read_blocks(silent, warn=False))
    assert not [w for w in recwarn if "silent" in str(w.message)]


def test_regroup_cuts_a_stream_into_equal_arrays():
    x = np.arange(23, dtype=np.float32)
    blocks = [x[:0], x[:7], x[7:8], x[8:20], x[20:]]  # uneven, one empty
    out = list(audio.regroup(blocks, 5))
    assert [len(b) for b in out] == [5, 5, 5, 5, 3]
    np.testing.assert_array_equal(np.concatenate(out), x)
    assert list(audio.regroup([], 5)) == []
