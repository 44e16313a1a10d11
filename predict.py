#!/usr/bin/env python3
"""Convert recordings to the target instrument with a trained model.

Run with --help for the options; same as `timbre predict`.
"""

from timbre.cli.predict import main

if __name__ == "__main__":
    raise SystemExit(main())
