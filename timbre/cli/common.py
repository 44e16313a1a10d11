"""What every command shares: running a body with clean errors, common flags.

Every command ends in one of: its output and status 0; ``error: <what>`` on one
line and status 1 (a ``TimbreError``, or an ``OSError``/``MemoryError`` a user
can cause: a full disk, a path that is a file, no permission); or, on Ctrl-C,
``interrupted; <how to continue>`` and status 130. No traceback either way,
and nothing half-written: every file is written atomically.
"""

from __future__ import annotations

import argparse
import errno
import os
import re
import signal
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterable, Sequence

from timbre.errors import MissingExtraError, TimbreError
from timbre.settings import NON_NEGATIVE_INT, POSITIVE, POSITIVE_INT

# TensorFlow's C++ start-up chatter (oneDNN notices, CUDA probing) is noise to a user of the
# commands; --verbose shows it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
INVOKED_AS: str | None = None  # "timbre <command>" when run through the timbre entry point
INTERRUPTED = "rerun the same command to resume; finished files are kept"
_CHATTER = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|[IWE]\d{4} [\d:.]+ +\d+ \S+\.cc:\d+\] )"
)  # absl's pre-initialisation lines and TensorFlow's C++ log lines


def fail(message: object) -> int:
    """Print ``error: <message>`` to stderr and return exit status 1."""
    print(f"error: {message}", file=sys.stderr)
    return 1


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"warning: {message}", file=sys.stderr)


def run(
    parser: argparse.ArgumentParser,
    body: Callable[[argparse.Namespace], int | None],
    argv: Sequence[str] | None,
    interrupted: str | Callable[[], str] = INTERRUPTED,
) -> int:
    """Parse ``argv`` and call ``body(args)``; return the exit status.

    A ``TimbreError``, and an ``OSError`` or ``MemoryError``, becomes one
    ``error: ...`` line and status 1, and so does a missing package of an extra
    (``<command> needs <package>, which is not installed: pip install 'timbre[<extra>]'``,
    :class:`timbre.errors.MissingExtraError`); Ctrl-C becomes ``interrupted; <interrupted>``
    (how to continue, for this command; a string or a function giving one) and status 130.
    Warnings are shown as one ``warning: ...`` line each. Run as a process (``argv`` None),
    a Ctrl-C after the body has returned is ignored: the interpreter's and TensorFlow's
    teardown would otherwise end it by the signal, with no message and no exit status.
    """
    try:
        return _run(parser, body, argv, interrupted)
    finally:
        if argv is None:
            ignore_late_interrupts()


def ignore_late_interrupts() -> None:
    """Ignore Ctrl-C from now on (a process's work is done; see :func:`run`)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run(parser, body, argv, interrupted) -> int:
    if INVOKED_AS:
        parser.prog = INVOKED_AS
    args = parser.parse_args(argv)
    if getattr(args, "verbose", False):
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
    previous = warnings.showwarning
    warnings.showwarning = _show_warning
    try:
        status = body(args)
    except TimbreError as e:
        return fail(e)
    except ModuleNotFoundError as e:
        missing = MissingExtraError.from_import_error(e, parser.prog)
        if missing is None:
            raise
        return fail(missing)
    except KeyboardInterrupt:
        said = interrupted() if callable(interrupted) else interrupted
        print(f"interrupted; {said}", file=sys.stderr)
        return 130
    except MemoryError:
        return fail("out of memory; use fewer --jobs, a smaller --batch_size or shorter inputs")
    except OSError as e:
        return fail(describe_os_error(e))
    finally:
        warnings.showwarning = previous
    return 0 if status is None else int(status)


def describe_os_error(error: OSError) -> str:
    """``<path>: <cause>`` in words (``no space left on device``), from an ``OSError``."""
    cause = error.strerror or str(error) or type(error).__name__
    if error.errno == errno.ENOSPC:
        cause = "no space left on device; free some space and rerun"
    where = error.filename if error.filename is not None else "file system"
    return f"{where}: {cause[0].lower() + cause[1:]}"


def start_tensorflow(verbose: bool = False) -> None:
    """Import TensorFlow (and probe its devices) with its native start-up chatter hidden.

    TensorFlow's C++ side prints oneDNN notices and CUDA probing errors to the
    process's stderr before its logging can be configured; they are caught at
    the file-descriptor level and dropped, and any other line is passed on.
    ``verbose`` shows everything.
    """
    if verbose or "tensorflow" in sys.modules:
        import tensorflow  # noqa: F401

        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        sink.seek(0)
        lines = sink.read().decode(errors="replace").splitlines()
    for line in lines:
        if not _CHATTER.match(line):
            print(line, file=sys.stderr)


def documented_parser(prog: str, doc: str) -> argparse.ArgumentParser:
    """A parser described by ``doc``'s first paragraph, the rest of it (usage examples, as
    written) its epilog."""
    description, _, epilog = doc.partition("\n\n")
    return argparse.ArgumentParser(
        prog=prog,
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=epilog,
    )


def add_model_flag(parser: argparse.ArgumentParser, *, required: bool) -> None:
    """``--model``, as every command that takes a model reads it: a model directory, the
    ``generator.keras`` inside one, or a shipped model's name (resolved by
    :func:`timbre.formats.shipped.resolve`; without ``required``, the default one)."""
    default = "" if required else "; default: the shipped keyboard"
    parser.add_argument(
        "--model",
        required=required,
        help="a model directory (or the generator.keras inside one), or the name of a model "
        f"shipped with timbre (timbre models lists them{default})",
    )


def add_output_flags(parser: argparse.ArgumentParser) -> None:
    """``--quiet`` (no progress bars; ``--no_progress`` is an alias) and ``--verbose``."""
    parser.add_argument(
        "--quiet", "--no_progress", dest="quiet", action="store_true", help="no progress bars"
    )
    parser.add_argument(
        "--verbose", action="store_true", help="show TensorFlow's start-up messages too"
    )


def report_failures(reasons: Iterable[str]) -> int:
    """Print ``failed: <reason>`` per failure to stderr; return the exit status.

    The status is 1 if any failed, else 0.
    """
    reasons = list(reasons)
    for reason in reasons:
        print(f"failed: {reason}", file=sys.stderr)
    return 1 if reasons else 0


def positive_int(text: str) -> int:
    """argparse type: an integer > 0 (:data:`timbre.settings.POSITIVE_INT`)."""
    return POSITIVE_INT.argparse_type(text)


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0 (:data:`timbre.settings.NON_NEGATIVE_INT`)."""
    return NON_NEGATIVE_INT.argparse_type(text)


def positive_float(text: str) -> float:
    """argparse type: a number > 0 (:data:`timbre.settings.POSITIVE`)."""
    return POSITIVE.argparse_type(text)


def add_jobs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--jobs",
        type=positive_int,
        default=os.cpu_count() or 1,
        help="worker processes (default: all cores, %(default)s here)",
    )


def add_seed(parser: argparse.ArgumentParser, default: int = 0) -> None:
    parser.add_argument(
        "--seed", type=int, default=default, help="random seed (default: %(default)s)"
    )


def parse_instruments(text: str) -> list[str]:
    """argparse type: comma-separated instrument names."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected comma-separated instrument names")
    return names
