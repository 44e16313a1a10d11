#!/usr/bin/env python3
"""Score a model's conversions against the true target instrument.

Run with --help for the options; same as `timbre evaluate`.
"""

from timbre.cli.evaluate import main

if __name__ == "__main__":
    raise SystemExit(main())
