"""What the Python API takes as audio: arrays and lists of samples made mono float32.

:meth:`timbre.convert.converter.Converter.convert` hands its argument here first, so the
array it converts is what the command line would have read from a file of the same samples:

- **Values.** Float arrays (float16/32/64) are samples at full scale ±1, kept as they are.
  Integer arrays are PCM, scaled by their dtype's range as libsndfile scales a PCM file:
  signed ``intN`` divided by ``2**(N-1)`` (int16 / 32768, int32 / 2**31), unsigned ``uintN``
  centred on ``2**(N-1)`` first (uint8: 128 is silence). A list or tuple of numbers has no
  dtype range: it is read as float samples; other array-likes (``__array__``) keep their
  dtype. bool, complex, strings, bytes, objects, dates
  and ``None`` are refused, naming the type that was given.
- **Channels.** Mixed to mono by averaging, as the command line does with a multichannel
  file (:func:`timbre.io.audio.load`). A 2-D array is ``(n_samples, channels)`` (soundfile's
  layout) or ``(channels, n_samples)`` (librosa's): the axis of length at most
  :data:`MAX_CHANNELS` is the channels. A shape where both axes are that short (``(2, 2)``,
  ``(4, 6)``) could be either and is refused, as is one where neither is; so is 3-D or more.
"""

from __future__ import annotations

import numpy as np

from timbre.errors import ConfigError

MAX_CHANNELS = 8  # a 2-D array's channel axis is the one at most this long (7.1 surround: 8)
_LAYOUTS = (
    f"(n_samples,), (n_samples, channels) or (channels, n_samples), channels <= {MAX_CHANNELS}"
)


def _described(audio: object) -> str:
    """What was given, for a message: its type, and a short repr of small things."""
    kind = type(audio).__name__
    if isinstance(audio, np.ndarray):
        return f"an array of dtype {audio.dtype} and shape {audio.shape}"
    if isinstance(audio, (list, tuple)):
        kinds = sorted({type(item).__name__ for item in audio[:1000]})
        return f"a {kind} of {', '.join(kinds) or 'nothing'}"
    shown = repr(audio)
    return f"a {kind}" + (f" ({shown})" if len(shown) <= 40 else "")


def _refused(audio: object, why: str = "") -> ConfigError:
    return ConfigError(
        f"audio: {_described(audio)}{why} (expected numeric samples: a NumPy array or a list of "
        f"numbers, shape {_LAYOUTS})"
    )


def as_array(audio: object) -> np.ndarray:
    """``audio`` as a NumPy array of real numbers (not yet scaled or mixed; no copy of an array).

    Raises:
        ConfigError: not numbers (see the module docstring), naming what was given.
    """
    if isinstance(audio, np.ndarray):
        array = audio
    elif hasattr(audio, "__array__") and not isinstance(audio, (str, bytes)):
        try:  # array-likes (a torch tensor on the CPU, a pandas Series...)
            array = np.asarray(audio)
        except (TypeError, ValueError, RuntimeError) as e:
            raise _refused(audio, f": {e}") from e
    elif isinstance(audio, (list, tuple)):
        try:
            array = np.asarray(audio, dtype=np.float64)  # a list has no dtype range: float samples
        except (TypeError, ValueError) as e:
            raise _refused(audio, f": {e}") from e
    else:
        raise _refused(audio)
    if array.dtype.kind not in "fiu":
        raise _refused(audio)
    return array


def channel_axis(shape: tuple[int, ...]) -> int | None:
    """The channel axis of an array of ``shape``: ``None`` for 1-D, else 0 or 1.

    Raises:
        ConfigError: 0-D, 3-D or more, or a 2-D shape whose channel axis is not clear.
    """
    if len(shape) == 1:
        return None
    if len(shape) != 2:
        raise ConfigError(f"audio: shape {shape} (expected {_LAYOUTS})")
    short = [axis for axis, size in enumerate(shape) if size <= MAX_CHANNELS]
    if len(short) == 1:
        return short[0]
    if short:
        raise ConfigError(
            f"audio: shape {shape} is ambiguous: either axis could be the channels (expected "
            f"one axis longer than {MAX_CHANNELS}; pass mono samples, shape (n_samples,))"
        )
    raise ConfigError(
        f"audio: shape {shape} has no channel axis (expected {_LAYOUTS}; more channels: mix "
        "them to mono first)"
    )


def as_mono(audio: object) -> np.ndarray:
    """``audio`` as float32 mono samples at full scale ±1 (module docstring).

    Memory: a float32 mono array is returned as it is (no copy); anything else costs one
    float32 array of ``n_samples``.

    Returns:
        float32 of shape (n_samples,).

    Raises:
        ConfigError: not numbers, or a shape the channels rule refuses.
    """
    array = as_array(audio)
    axis = channel_axis(array.shape)
    kind, bits = array.dtype.kind, 8 * array.dtype.itemsize
    if axis is None:
        mono = array.astype(np.float32, copy=False)
    else:
        mono = array.mean(axis=axis, dtype=np.float32)
    if kind == "f":
        return mono
    if kind == "u":
        mono -= np.float32(2 ** (bits - 1))
    mono *= np.float32(2.0 ** -(bits - 1))
    return mono
