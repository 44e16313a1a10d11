import warnings

import librosa
import numpy as np
import pytest
from helpers import write_nsynth_folder

from timbre.data.midi import Score
from timbre.data.notebank import open_nsynth_bank
from timbre.data.synth import NoteSynthesizer, sounding_ends
from timbre.settings import SynthConfig

RATE = 44100


@pytest.fixture
def sine_bank(nsynth_folder):
    return open_nsynth_bank(nsynth_folder, ["keyboard_acoustic"]).banks["keyboard_acoustic"]


def cents(measured_hz: float, pitch: int) -> float:
    return 1200 * np.log2(measured_hz / (440.0 * 2 ** ((pitch - 69) / 12)))


def peak_hz(audio: np.ndarray, start_s: float = 0.2, seconds: float = 2.0) -> float:
    """Frequency of the spectral peak of a sustained stretch (long FFT, parabolic interpolation)."""
    part = audio[int(start_s * RATE) : int((start_s + seconds) * RATE)] * np.hanning(
        int(seconds * RATE)
    )
    spectrum = np.abs(np.fft.rfft(part, 8 * part.size))
    k = int(np.argmax(spectrum))
    a, b, c = np.log(spectrum[k - 1 : k + 2])
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * RATE / (8 * part.size)


def one_note(pitch, velocity=100, start=0.0, seconds=2.5):
    return Score.from_notes([(start, start + seconds, pitch, velocity)])


@pytest.mark.parametrize("pitch,transpose", [(60, 0), (69, 0), (62, 0), (57, 3), (60, 3), (64, -7)])
def test_fundamental_within_10_cents(sine_bank, pitch, transpose):
    """Bank pitches 57/60/64/69; 62, 63 and 57 (64 - 7) are built by resampling the nearest."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = NoteSynthesizer(sine_bank, SynthConfig(transpose=transpose)).render(one_note(pitch))
    assert abs(cents(peak_hz(out), pitch + transpose)) < 10


@pytest.mark.parametrize("transpose", [0, 3])
def test_soundfont_fundamental_within_10_cents(soundfont_banks, transpose):
    """A real instrument sample (GM strings), f0 by YIN on the sustained part."""
    bank = soundfont_banks.banks["string_acoustic"]
    out = NoteSynthesizer(bank, SynthConfig(transpose=transpose), warn=False).render(one_note(57))
    f0 = librosa.yin(
        out[int(0.5 * RATE) : int(2.0 * RATE)], fmin=100, fmax=600, sr=RATE, frame_length=4096
    )
    assert abs(cents(float(np.median(f0)), 57 + transpose)) < 10


def test_missing_pitch_warns_once_per_synthesizer(sine_bank):
    synth = NoteSynthesizer(sine_bank)
    with pytest.warns(
        UserWarning,
        match="lacks 2 pitches; made them by resampling the nearest: 62 from 60, 108 from 69",
    ):
        synth.render(Score.from_notes([(0, 1, 62, 90), (0.5, 1, 108, 90)]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        synth.render(one_note(62))  # no second warning
    assert synth.substitutions == {62: 60, 108: 69}


def test_lengths_follow_playback_speed_and_duration_rate(sine_bank):
    score = Score.from_notes([(0.0, 0.5, 60, 100), (1.0, 3.0, 64, 100)])  # last note 1-3 s
    release = SynthConfig().release_seconds
    for speed, rate, expected in [
        (1, 1, 3.0),
        (2, 1, 1.5),
        (0.5, 1, 6.0),
        (1, 0.5, 2.0),
        (2, 2, 2.5),
    ]:
        config = SynthConfig(playback_speed=speed, duration_rate=rate)
        out = NoteSynthesizer(sine_bank, config).render(score)
        assert out.size == round((expected + release) * RATE), (speed, rate)
        gap = int((0.5 * rate / speed + release + 0.01) * RATE)  # after the first note's release
        onset_2 = (gap + np.argmax(np.abs(out[gap:]) > 0.01)) / RATE
        assert gap < RATE / speed or (speed, rate) == (
            2,
            2,
        )  # (2, 2): the notes touch, no gap to look in
        assert (speed, rate) == (2, 2) or onset_2 == pytest.approx(1.0 / speed, abs=0.002), (
            speed,
            rate,
        )  # onsets move with speed only


def test_notes_past_the_end_are_kept_and_max_seconds_cuts(sine_bank):
    score = Score.from_notes([(0.0, 0.5, 60, 100), (0.2, 2.0, 64, 100)])
    out = NoteSynthesizer(sine_bank).render(score)
    assert out.size == round(2.05 * RATE)
    assert np.abs(out[int(1.9 * RATE) : int(2.0 * RATE)]).max() > 0.1  # the long note still sounds
    cut = NoteSynthesizer(sine_bank, SynthConfig(max_seconds=1.0)).render(score)
    assert cut.size == RATE
    assert abs(cut[-1]) < 1e-3 and np.abs(cut[-4000:-3000]).max() > 0.1  # faded at the cut


def test_release_fade_and_silence_after(sine_bank):
    out = NoteSynthesizer(sine_bank).render(one_note(60, seconds=1.0))
    assert out.size == round(1.05 * RATE)
    assert np.abs(out[int(0.9 * RATE) : RATE]).max() > 0.5
    assert abs(out[-1]) < 0.005 and np.abs(out[-88:]).max() < 0.05  # faded out over the release
    assert np.abs(out[-1100:-1000]).max() > 0.4  # the fade has just begun 25 ms before the end


def test_pedal_sustains_until_lifted_and_restrike_cuts():
    score = Score.from_notes(
        [(0.0, 0.5, 60, 100), (1.0, 1.2, 60, 100), (0.0, 0.1, 64, 100), (0.0, 0.3, 67, 100)],
        pedal=[(0.2, 2.0)],
    )
    # sorted by onset: 60@0 (held by the pedal but re-struck at 1.0),
    # 64 (released before the pedal), 67 (released while it is down: sounds until 2.0),
    # 60@1 (held until 2.0)
    np.testing.assert_allclose(sounding_ends(score), [1.0, 0.1, 2.0, 2.0])
    pedal_other_track = Score.from_notes([(0.0, 0.5, 60, 100)], pedal=[(0.2, 2.0, 1)])
    np.testing.assert_allclose(sounding_ends(pedal_other_track), [0.5])


def test_pedal_in_rendered_audio(sine_bank):
    dry = NoteSynthesizer(sine_bank).render(one_note(60, seconds=0.5))
    wet = NoteSynthesizer(sine_bank).render(
        Score.from_notes([(0.0, 0.5, 60, 100)], pedal=[(0.1, 2.0)])
    )
    assert dry.size == round(0.55 * RATE) and wet.size == round(2.05 * RATE)
    assert np.abs(wet[int(1.5 * RATE) : int(1.9 * RATE)]).max() > 0.5


def test_velocity_loudness_kept_and_every_velocity_plays(sine_bank):
    score = Score.from_notes([(0.0, 1.0, 60, 40), (2.0, 3.0, 60, 110)])  # nearest: 50 and 100
    out = NoteSynthesizer(sine_bank).render(score)
    quiet, loud = np.abs(out[:RATE]).max(), np.abs(out[2 * RATE : 3 * RATE]).max()
    assert quiet / loud == pytest.approx(0.5, rel=0.01)
    assert loud == pytest.approx(10 ** (-1 / 20), rel=1e-4)  # peak at -headroom_db
    every = Score.from_notes([(0.01 * v, 0.01 * v + 0.1, 60, v) for v in range(1, 128)])
    assert np.all(np.isfinite(NoteSynthesizer(sine_bank).render(every)))


def test_cache_unchanged_and_rendering_repeatable(sine_bank):
    before = {key: sine_bank.note(*key).copy() for key in sine_bank.notes}
    synth = NoteSynthesizer(sine_bank)
    score = Score.from_notes(
        [(0.1 * i, 0.1 * i + 0.3, 57 + (i % 12), 50 + 5 * i) for i in range(12)]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first, second = synth.render(score), synth.render(score)
    np.testing.assert_array_equal(
        first, second
    )  # the original faded its cache: each reuse got quieter
    for key, samples in before.items():
        np.testing.assert_array_equal(sine_bank.note(*key), samples)


def test_silence_does_not_divide_by_zero(tmp_path):
    folder = write_nsynth_folder(
        tmp_path, instruments=("mallet_acoustic_000",), pitches=(60,), velocities=(100,)
    )
    from timbre.io import audio

    audio.save(
        folder / "audio" / "mallet_acoustic_000-060-100.wav", np.zeros(64000, np.float32), 16000
    )
    bank = open_nsynth_bank(folder, ["mallet_acoustic"]).banks["mallet_acoustic"]
    out = NoteSynthesizer(bank).render(one_note(60, seconds=0.5))
    assert out.size == round(0.55 * RATE) and np.all(out == 0)
