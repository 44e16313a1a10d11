#!/usr/bin/env python3
"""Turn paired audio into normalised log-magnitude STFT tiles.

Run with --help for the options; same as `timbre features`.
"""

from timbre.cli.features import main

if __name__ == "__main__":
    raise SystemExit(main())
