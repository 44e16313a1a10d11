"""timbre.data.recorded: the recorded chain is seeded, audible, and keeps the pair aligned."""

import dataclasses
import sys

import numpy as np
import pytest
from helpers import melody
from scipy import signal

from timbre.data import recorded
from timbre.errors import ConfigError, MissingExtraError
from timbre.evaluate import metrics

SR = 16000


def lag(estimate: np.ndarray, reference: np.ndarray) -> int:
    """The shift (samples) at which ``estimate`` best matches ``reference``."""
    correlation = signal.correlate(estimate, reference, mode="full", method="fft")
    return int(np.argmax(np.abs(correlation)) - (len(reference) - 1))


def test_the_chain_is_deterministic_per_seed_and_piece():
    audio = melody(1.5, SR)
    first, recording = recorded.record(audio, SR, "piece_a", seed=3)
    again, _ = recorded.record(audio, SR, "piece_a", seed=3)
    assert np.array_equal(first, again)
    assert first.dtype == np.float32 and first.shape == audio.shape and np.all(np.isfinite(first))
    other_seed, other = recorded.record(audio, SR, "piece_a", seed=4)
    assert other != recording and not np.allclose(other_seed, first)
    assert recorded.draw(recorded.DEFAULT_RECORDING, "piece_b", 3) != recording
    assert recording.to_dict()["room_m"] == [round(v, 3) for v in recording.room_m]


def test_the_chain_changes_the_signal_measurably():
    audio = melody(2.0, SR)
    out, _ = recorded.record(audio, SR, "piece_a")
    # the room, the noise floor and the coder fill the valleys between the partials
    assert metrics.flatness_ratio(out, audio, SR) > 2.0
    level = np.sqrt(np.mean(audio**2) / np.mean(out**2))
    assert metrics.spectral_convergence(level * out, audio, SR) > 0.2


@pytest.mark.parametrize("sample_rate", [SR, 44100])
def test_the_room_delay_is_compensated_so_the_pair_stays_aligned(sample_rate, rng):
    noise = (0.1 * rng.standard_normal(sample_rate)).astype(np.float32)
    for piece in ("a", "b", "c"):
        recording = recorded.draw(recorded.DEFAULT_RECORDING, piece, 0)
        response = recorded.impulse_response(sample_rate, recording)
        delay = recorded.direct_delay(sample_rate, recording)
        assert delay > 50 and abs(int(np.argmax(np.abs(response[: delay + 5]))) - delay) <= 1
        assert lag(recorded.room(noise, sample_rate, recording), noise) == 0
        assert abs(lag(recorded.apply(noise, sample_rate, recording), noise)) <= 2
        uncompensated = signal.fftconvolve(noise, response)[: len(noise)]
        assert lag(uncompensated, noise) > 50  # what the test would see without it


def test_the_band_limit_is_skipped_at_or_below_its_rate():
    audio = melody(1.0, 8000)
    recording = dataclasses.replace(recorded.draw(recorded.DEFAULT_RECORDING, "a", 0), snr_db=200)
    out = recorded.apply(audio, 8000, recording)
    assert out.shape == audio.shape and np.all(np.isfinite(out))


def test_missing_libraries_name_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyroomacoustics", None)
    with pytest.raises(MissingExtraError, match=r"recorded' condition needs pyroomacoustics.*"
                       r"timbre\[evaluate\]"):  # fmt: skip
        recorded.record(melody(0.5, SR), SR, "a")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rt60_s": (0.9, 0.2)}, r"rt60_s=\(0.9, 0.2\) \(expected low <= high\)"),
        ({"distance_m": (0.0, 1.0)}, "distance_m=.* must be positive"),
        ({"mp3_quality": (2.0, 10.0)}, r"mp3_quality=.*expected within \[0, 10\)"),
        ({"band_rates": ()}, "band_rates=.*rates >= 8000 Hz"),
        ({"room_m": ((1.5, 4.0), (3.0, 4.0), (2.5, 3.0))}, "every side must exceed 2.0 m"),
    ],
)
def test_recording_config_checks_its_ranges(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        recorded.RecordingConfig(**kwargs)


def test_a_room_that_cannot_reach_its_rt60_is_a_clear_error():
    recording = dataclasses.replace(
        recorded.draw(recorded.DEFAULT_RECORDING, "a", 0), room_m=(30.0, 30.0, 10.0), rt60_s=0.05
    )
    with pytest.raises(ConfigError, match="room cannot have RT60 0.05 s"):
        recorded.impulse_response(SR, recording)
