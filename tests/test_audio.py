import numpy as np
import pytest
import soundfile as sf
from conftest import sine

from timbre import audio
from timbre.errors import AudioError


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
