"""Rules, help and command-line flags of config fields, defined once per field.

A config field is declared with :func:`setting` (its default, help text and
rule); :func:`check_fields` checks an instance in ``__post_init__`` and
:func:`add_arguments` derives the argparse flags, so a setting's name, default,
help and check live in one place and say the same in a config and on a
command line.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

from timbre.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Rule:
    """A check on one setting, worded once for configs and command lines alike.

    A config refuses a value with ``<Config>: <name>=<value> <must>``; a flag
    refuses one with ``<value> <refusal>`` (what argparse prints after the flag).
    """

    parse: Callable[[str], Any]  # text of a flag -> value
    ok: Callable[[Any], bool]  # whether a parsed value is allowed
    must: str  # "must be a positive integer": ends a config's refusal
    refusal: Callable[[Any], str]  # value -> "is not a positive integer": ends a flag's refusal
    name: str  # what argparse calls it in "invalid <name> value: 'x'"

    @property
    def __name__(self) -> str:  # argparse names a type by its __name__
        return self.name

    def check(self, owner: str, name: str, value: Any) -> None:
        """Raise ``ConfigError`` unless ``value`` is allowed."""
        if not self.ok(value):
            shown = repr(value) if not isinstance(value, float) else str(value)
            raise ConfigError(f"{owner}: {name}={shown} {self.must}")

    def argparse_type(self, text: str) -> Any:
        """argparse type: the parsed value, or ``ArgumentTypeError`` with the refusal."""
        value = self.parse(text)
        if not self.ok(value):
            raise argparse.ArgumentTypeError(f"{value} {self.refusal(value)}")
        return value

    def __call__(self, text: str) -> Any:
        return self.argparse_type(text)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A real number (int or float, not bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


POSITIVE_INT = Rule(
    int,
    lambda v: _is_int(v) and v > 0,
    "must be a positive integer",
    lambda v: "is negative (expected a positive integer)" if v < 0 else "is not a positive integer",
    "positive_int",
)
NON_NEGATIVE_INT = Rule(
    int,
    lambda v: _is_int(v) and v >= 0,
    "must be a non-negative integer",
    lambda v: "is negative (expected an integer >= 0)",
    "non_negative_int",
)
POSITIVE = Rule(
    float, lambda v: is_number(v) and v > 0, "must be > 0", lambda v: "is not > 0", "positive_float"
)
NON_NEGATIVE = Rule(
    float,
    lambda v: is_number(v) and 0 <= v < float("inf"),
    "must be a finite number >= 0",
    lambda v: "is not a finite number >= 0",
    "non_negative_float",
)
FRACTION = Rule(
    float,
    lambda v: is_number(v) and 0 < v < 1,
    "must lie in (0, 1)",
    lambda v: "is not in (0, 1)",
    "fraction",
)
UNIT_INTERVAL = Rule(
    float,
    lambda v: is_number(v) and 0 <= v < 1,
    "must lie in [0, 1)",
    lambda v: "is not in [0, 1)",
    "unit_interval",
)


SAMPLE_RATES = (8000, 192000)  # Hz: the rates conversion takes and writes (predict.py
# --sample_rate, Converter.convert and convert_file); below 8 kHz nothing of the model's band
# is left, above 192 kHz no recording format goes


def _parse_rate(text: str) -> int | float:
    """Text of a rate -> an int when it is whole (``"16000.0"`` -> 16000), else the float."""
    value = float(text)
    return int(value) if value.is_integer() else value


def _is_rate(value: Any) -> bool:
    """A whole number of Hz (an int, or an integral float: 16000.0) in :data:`SAMPLE_RATES`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):  # np.bool_ is not Real
        return False
    low, high, value = *SAMPLE_RATES, float(value)
    return math.isfinite(value) and value.is_integer() and low <= value <= high


def _rate_refusal(value: Any) -> str:
    low, high = SAMPLE_RATES
    if float(value).is_integer():
        return f"Hz (expected {low} to {high} Hz)"
    return f"Hz is not a whole number (expected {low} to {high} Hz)"


SAMPLE_RATE = Rule(
    _parse_rate,
    _is_rate,
    f"must be a whole number of Hz from {SAMPLE_RATES[0]} to {SAMPLE_RATES[1]}",
    _rate_refusal,
    "sample_rate",
)


def sample_rate(value: Any, owner: str, name: str = "sample_rate") -> int:
    """``value`` as an int rate in :data:`SAMPLE_RATES` (the one check of every rate a user gives).

    Raises:
        ConfigError: ``<owner>: sample_rate=<value> must be a whole number of Hz from 8000 to
            192000`` for anything else (bools, strings, 16000.5, nan, 1, 10**9).
    """
    SAMPLE_RATE.check(owner, name, value)
    return int(value)


def check_positive_int(owner: str, **values: Any) -> None:
    """Raise ``ConfigError`` ``<owner>: <name>=<value> must be a positive integer`` for any
    value that is not an integer > 0."""
    for name, value in values.items():
        POSITIVE_INT.check(owner, name, value)


def setting(
    default: Any,
    help: str,
    *,
    check: Rule | None = None,
    choices: tuple | None = None,
    flags: tuple[str, ...] = (),
    default_help: str | None = None,
) -> Any:
    """A config field with its help text and its rule (checked by :func:`check_fields`).

    Args:
        default: the field's default value.
        help: what the setting does (the flag's help, without the default).
        check: the rule its value obeys (``None`` passes the default ``None`` too).
        choices: the allowed values, for a string option.
        flags: the command-line names (default: ``--<field name>``).
        default_help: how the default is shown in the help (default: the value).
    """
    metadata = {
        "help": help,
        "check": check,
        "choices": choices,
        "flags": flags,
        "default_help": default_help,
    }
    return dataclasses.field(default=default, metadata=metadata)


def check_fields(config: Any) -> None:
    """Check every field of a dataclass instance against its :func:`setting` rule.

    Raises:
        ConfigError: ``<Config>: <name>=<value> <must>`` or ``... (expected one of ...)``.
    """
    owner = type(config).__name__
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if value is None and field.default is None:
            continue
        rule, choices = field.metadata.get("check"), field.metadata.get("choices")
        if rule is not None:
            rule.check(owner, field.name, value)
        if choices is not None and value not in choices:
            raise ConfigError(f"{owner}: {field.name}={value!r} (expected one of {choices})")


def add_arguments(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    config_class: type,
    only: Sequence[str] | None = None,
    *,
    defaults_none: bool = False,
) -> None:
    """Add one flag per field of ``config_class`` (those in ``only``, in that order).

    Name, aliases, type, check, choices and help come from the field's
    :func:`setting`; a bool field becomes a switch (``store_true``).
    ``defaults_none``: every flag defaults to ``None`` (a flag not given is told
    apart from one given the default: resuming keeps the saved value); the help
    still names the config's default.
    """
    fields = {field.name: field for field in dataclasses.fields(config_class)}
    for name in only if only is not None else list(fields):
        field, meta = fields[name], fields[name].metadata
        flags = meta.get("flags") or (f"--{name}",)
        shown = meta.get("default_help") or field.default
        help_text = meta["help"] if isinstance(field.default, bool) else f"{meta['help']} "
        if not isinstance(field.default, bool):
            help_text += f"(default: {shown})"
        kwargs: dict[str, Any] = {"dest": name, "help": help_text.replace("%", "%%")}
        if isinstance(field.default, bool):
            kwargs.update(action="store_true", default=None if defaults_none else field.default)
        else:
            kwargs["default"] = None if defaults_none else field.default
            if meta.get("choices") is not None:
                kwargs["choices"] = meta["choices"]
            else:
                kwargs["metavar"] = flags[0].lstrip("-").upper()
                if meta.get("check") is not None:
                    kwargs["type"] = meta["check"]
                elif isinstance(field.default, (int, float)):
                    kwargs["type"] = type(field.default)
        parser.add_argument(*flags, **kwargs)


def fields_given(args: argparse.Namespace, config_class: type) -> dict[str, Any]:
    """The fields of ``config_class`` whose flags ``args`` holds a value (not ``None``) for."""
    names = (field.name for field in dataclasses.fields(config_class))
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}
