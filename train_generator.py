#!/usr/bin/env python3
"""Train the U-Net generator alone with an L1 loss (no discriminator).

Run with --help for the options; same as `timbre train-generator`.
"""

from timbre.cli.train_generator import main

if __name__ == "__main__":
    raise SystemExit(main())
