#!/usr/bin/env python3
"""Render the same MIDI music with several instruments, aligned sample for sample.

Run with --help for the options; same as `timbre synthesize`.
"""

from timbre.cli.synthesize import main

if __name__ == "__main__":
    raise SystemExit(main())
