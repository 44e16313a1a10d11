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
