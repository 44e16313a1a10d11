"""timbre.formats.instruments: the short names a musician types for NSynth's instruments."""

from __future__ import annotations

import pytest

from timbre.errors import ConfigError
from timbre.formats import instruments

ZOO = ("string_acoustic", "guitar_acoustic", "synth_lead_synthetic")


def test_short_names_and_labels():
    assert [instruments.short_name(t) for t in ZOO] == ["strings", "guitar", "synth_lead"]
    assert instruments.family("synth_lead_synthetic") == "synth_lead"
    assert instruments.label("guitar_acoustic") == "guitar (guitar_acoustic)"
    assert instruments.label("strings") == "strings"  # its own short name: shown once


@pytest.mark.parametrize(
    ("name", "meant"),
    [
        ("guitar_acoustic", "guitar_acoustic"),  # the full name
        ("guitar", "guitar_acoustic"),  # the family
        ("Strings", "string_acoustic"),  # a word for it, any case
        ("string", "string_acoustic"),
        ("lead", "synth_lead_synthetic"),
        ("synth_lead", "synth_lead_synthetic"),
    ],
)
def test_resolve_takes_full_short_and_common_names(name, meant):
    assert instruments.resolve(name, ZOO, "zoo") == meant


def test_an_unknown_target_lists_the_targets_there_are():
    with pytest.raises(ConfigError) as error:
        instruments.resolve("flute", ZOO, "models/zoo")
    message = str(error.value)
    assert message.startswith("target='flute': models/zoo converts to strings (string_acoustic)")
    assert "guitar (guitar_acoustic), synth_lead (synth_lead_synthetic)" in message
    assert "\n" not in message


def test_two_of_a_family_need_the_full_name():
    known = ("guitar_acoustic", "guitar_electronic")
    with pytest.raises(ConfigError, match="several of that family .*give the full name"):
        instruments.resolve("guitar", known, "zoo")
    assert instruments.resolve("guitar_electronic", known, "zoo") == "guitar_electronic"
