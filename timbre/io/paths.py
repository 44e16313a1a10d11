"""Paths as the commands check them before any work: one file under two names, and inputs
that are not regular files.

:func:`same_file` sees through every way one file gets two names: symbolic links, ``./x.wav``
against ``x.wav``, ``..`` and hard links (the device and inode numbers). :func:`not_regular`
names what a path is when it is neither a regular file nor a folder (a named pipe, a device,
a socket): reading one blocks forever or reads without end, so no command opens one.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

KINDS = (  # (test of st_mode, how a message names it)
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when ``a`` and ``b`` name one file (or folder), by any path; False when either
    does not exist (then they are compared as resolved paths)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def not_regular(path: str | os.PathLike) -> str | None:
    """What ``path`` is when it exists and is neither a regular file nor a folder (links
    followed), in words (:data:`KINDS`); ``None`` otherwise."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    return next((kind for test, kind in KINDS if test(mode)), None)
