"""Errors raised by timbre.

Every error a user can cause is a ``TimbreError``; ``cli`` turns it into
``error: <message>`` on stderr and exit status 1. Subclasses also derive from
the matching built-in so callers can catch ``ValueError``/``OSError`` as usual.
"""


class TimbreError(Exception):
    """Base class of every error timbre raises on bad input."""


class ConfigError(TimbreError, ValueError):
    """A setting is out of range or two settings disagree."""


class AudioError(TimbreError, OSError):
    """An audio file is missing, unreadable or unusable."""


class MidiError(TimbreError, OSError):
    """A MIDI file is missing, unreadable or holds no notes."""


class NoteBankError(TimbreError, OSError):
    """A note bank (NSynth folder or SoundFont) is missing or unusable."""


class DatasetError(TimbreError, OSError):
    """Audio or feature folders are missing, inconsistent or corrupt."""


class ModelError(TimbreError, OSError):
    """A model directory or file is missing, foreign or inconsistent."""


class BusyError(TimbreError, OSError):
    """Another timbre run holds the output folder (see :func:`timbre.io.atomic.run_lock`)."""


EXTRAS = {  # top-level module -> (the package that provides it, the extra that installs it)
    "tensorflow": ("TensorFlow", "train"),
    "keras": ("Keras", "train"),
    "tensorboard": ("TensorBoard", "train"),
    "tf2onnx": ("tf2onnx", "train"),
    "onnx": ("onnx", "train"),
    "pretty_midi": ("pretty_midi", "synth"),
    "mido": ("mido", "synth"),
    "fluidsynth": ("pyfluidsynth", "synth"),
    "scipy": ("SciPy", "synth"),
    "librosa": ("librosa", "evaluate"),
    "pyroomacoustics": ("pyroomacoustics", "evaluate"),
    "pedalboard": ("pedalboard", "evaluate"),
    "matplotlib": ("matplotlib", "plot"),
    "psutil": ("psutil", "bench"),
    "basic_pitch": ("basic-pitch", "transcribe"),
    "mir_eval": ("mir_eval", "transcribe"),
    "resampy": ("resampy", "transcribe"),
    "sklearn": ("scikit-learn", "transcribe"),
}


class MissingExtraError(TimbreError, ImportError):
    """A package of one of timbre's optional extras (``pip install 'timbre[<extra>]'``) is
    not installed.

    Args:
        needed_by: what needs it (a command such as ``train.py``, or an API call).
        module: the top-level module that could not be imported, a key of :data:`EXTRAS`.
        hint: appended to the message after ``; `` (another way out), if given.
    """

    def __init__(self, needed_by: str, module: str, hint: str | None = None) -> None:
        self.package, self.extra = EXTRAS[module]
        message = (
            f"{needed_by} needs {self.package}, which is not installed: "
            f"pip install 'timbre[{self.extra}]'"
        )
        super().__init__(message + (f"; {hint}" if hint else ""), name=module)

    @classmethod
    def from_import_error(
        cls, error: ImportError, needed_by: str, hint: str | None = None
    ) -> "MissingExtraError | None":
        """The error for ``error`` when it is a missing module of an extra, else ``None``."""
        if not isinstance(error, ModuleNotFoundError) or not error.name:
            return None
        module = error.name.split(".")[0]
        return cls(needed_by, module, hint) if module in EXTRAS else None
