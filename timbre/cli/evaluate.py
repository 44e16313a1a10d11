"""Command-line entry point; placeholder until its issue lands."""

from __future__ import annotations

from typing import Sequence

from timbre.cli.common import not_implemented


def main(argv: Sequence[str] | None = None) -> int:
    return not_implemented("evaluate")
