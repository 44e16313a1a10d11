"""``train_generator.py``: train the Pix2Pix U-Net generator alone with an L1 loss.

Same parser and training loop as ``train.py`` (``timbre.cli.train``) with
``mode="generator"``: no discriminator, so no ``--disc_lr``/``--l1_weight``.
"""

from __future__ import annotations

from collections.abc import Sequence

from timbre.cli import train


def main(argv: Sequence[str] | None = None) -> int:
    return train.main(argv, mode="generator")
