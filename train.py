#!/usr/bin/env python3
"""Train the Pix2Pix timbre-transfer GAN on an (origin, target) instrument pair.

Run with --help for the options; same as `timbre train`.
"""

from timbre.cli.train import main

if __name__ == "__main__":
    raise SystemExit(main())
