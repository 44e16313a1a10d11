"""Atomic file writes and small JSON/NumPy helpers (no audio: see ``audio``).

Every file timbre writes goes through :func:`atomic_path` (a folder: :func:`atomic_folder`):
the content is written to a temporary name in the destination folder and renamed over the
destination only once complete, so a run killed at any moment leaves either
the old file or the new one, never a half-written file a rerun would trust.
Temporary names (:func:`temporary_path`) start with ``.`` and contain ``.tmp-``; they are
ignored by every reader in timbre, and :func:`remove_temporaries` deletes those a killed
run left.

:func:`run_lock` keeps two runs from writing one folder at once.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from timbre.errors import BusyError, DatasetError, TimbreError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; runs are not protected from each other there
    fcntl = None

LOCK_FILE = ".timbre.lock"  # in an output folder while a run writes it


TEMPORARY_MARK = ".tmp-"  # in every temporary name, after ``.<name>``


def temporary_path(path: str | os.PathLike, folder: bool = False) -> Path:
    """Create a new, empty file (or folder) with a temporary name beside ``path``; return it.

    The name is ``.<stem>.tmp-XXXXXXXX<suffix>`` for a file (the suffix is kept: libraries
    such as soundfile and Keras pick the format from it) and ``.<name>.tmp-XXXXXXXX`` for a
    folder; :func:`is_temporary` recognises both. ``path``'s folder must exist.
    """
    path = Path(path)
    if folder:
        return Path(tempfile.mkdtemp(prefix=f".{path.name}{TEMPORARY_MARK}", dir=path.parent))
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.stem}{TEMPORARY_MARK}", suffix=path.suffix, dir=path.parent
    )
    os.close(fd)
    return Path(tmp)


def is_temporary(path: str | os.PathLike) -> bool:
    """True for a name made by :func:`temporary_path` (``.<name>.tmp-*``)."""
    name = Path(path).name
    return name.startswith(".") and TEMPORARY_MARK in name[1:]


def remove_temporaries(folders: Iterable[str | os.PathLike]) -> int:
    """Delete the temporary files and folders (:func:`is_temporary`) that a killed run left
    directly in ``folders``; returns how many.

    Call it only while holding the run lock of the folders' output folder
    (:func:`run_lock`): then no live run owns them.
    """
    removed = 0
    for folder in dict.fromkeys(Path(f) for f in folders):
        for stale in filter(is_temporary, folder.iterdir() if folder.is_dir() else ()):
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)
            removed += 1
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` on success.

    The temporary name (:func:`temporary_path`) keeps the destination's suffix. On an
    exception the temporary file is removed and ``path`` is left untouched.

    Args:
        path: final destination; its folder is created if missing.

    Yields:
        The temporary path to write to.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = temporary_path(path)
    try:
        yield tmp_path
        if (
            tmp_path.is_file()
        ):  # mkstemp makes 0600 files; give the usual 0666 & ~umask, as open() would
            os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a new, empty folder beside ``path``; on success it replaces ``path``.

    An existing ``path`` is first moved aside to a temporary name and removed once the new
    folder is in place. On an exception the new folder is removed and ``path`` is left
    untouched.

    Args:
        path: final destination; its parent folder is created if missing.

    Yields:
        The temporary folder to write into.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path, folder=True)
    try:
        yield tmp
        if path.exists():
            old = temporary_path(path, folder=True)
            os.replace(path, old / path.name)
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def _umask() -> int:
    """The process's umask (read by setting it and putting it back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file.

    Raises:
        DatasetError: the file is missing or is not valid JSON (names the file).
    """
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as e:
        raise DatasetError(f"{path}: file not found") from e
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DatasetError(f"{path}: not valid JSON ({e})") from e


def save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    """Save ``array`` with ``np.save``, atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, array, allow_pickle=False)


def load_npy(path: str | os.PathLike, mmap: bool = True) -> np.ndarray:
    """Load an ``.npy`` file written by :func:`save_npy` (never with pickle).

    Args:
        path: the file.
        mmap: memory-map instead of reading it whole.

    Raises:
        DatasetError: the file is missing, truncated or not an ``.npy`` file.
    """
    path = Path(path)
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except FileNotFoundError as e:
        raise DatasetError(f"{path}: file not found") from e
    except (ValueError, OSError, EOFError) as e:
        raise DatasetError(f"{path}: corrupt or truncated array file ({e})") from e


@contextlib.contextmanager
def run_lock(folder: str | os.PathLike, what: str) -> Iterator[Path]:
    """Hold ``<folder>/.timbre.lock`` while a run writes ``folder``; a second run is refused.

    The lock is an advisory ``flock`` on that file, which records the holder's
    PID and command. The operating system releases it when the holder exits,
    however it exits (SIGKILL included), so a lock left by a killed run is
    stale by construction and the next run simply takes it. Released on every
    exit path; the file is removed when the run ends normally.

    Args:
        folder: the output folder (created if missing).
        what: what the run is, for the message another run gets (e.g. ``"train.py"``).

    Raises:
        BusyError: another live process holds the lock (names its PID and command).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    if fcntl is None:
        yield path
        return
    fd = _locked(path, folder)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"PID {os.getpid()}: {what}".encode(), 0)
        try:
            yield path
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)
    finally:
        os.close(fd)  # releases the flock


def _locked(path: Path, folder: Path) -> int:
    """A descriptor of ``path`` holding its exclusive flock (retried if the file was replaced)."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666 & ~_umask())
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise BusyError(
                f"{folder}: in use by another timbre run ({holder}); wait for it to finish or "
                "stop it (expected one run per folder at a time)"
            ) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:  # the holder we waited for removed it as it finished
            same = False
        if same:
            return fd
        os.close(fd)


@contextlib.contextmanager
def naming_failures(path: str | os.PathLike) -> Iterator[None]:
    """Give an ``OSError`` that names no file (a full disk mid-write), or names a temporary
    one (:func:`is_temporary`: a name the user never gave), the name of ``path``.

    So ``cli.common.run`` can say which folder or file could not be written.
    Errors that name another file, and timbre's own, pass unchanged.
    """
    try:
        yield
    except OSError as e:
        if isinstance(e, TimbreError) or (e.filename is not None and not is_temporary(e.filename)):
            raise
        raise OSError(e.errno, e.strerror or str(e), str(path)) from e
