#!/bin/sh
# Installs the system FluidSynth library (Debian/Ubuntu package libfluidsynth3)
# when it is missing. Needs root or password-less sudo; otherwise prints the
# exact command to run and fails.
set -e
if ldconfig -p 2>/dev/null | grep -q 'libfluidsynth\.so\.3'; then
    exit 0
fi
cmd="apt-get update -qq && apt-get install -y -qq libfluidsynth3"
if [ "$(id -u)" = 0 ]; then
    echo "installing the FluidSynth library: $cmd"
    sh -c "$cmd" >/dev/null
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    echo "installing the FluidSynth library: sudo sh -c '$cmd'"
    sudo sh -c "$cmd" >/dev/null
else
    echo "error: the FluidSynth library (libfluidsynth.so.3) is missing and this user cannot install packages." >&2
    echo "run:  sudo apt-get install libfluidsynth3   (macOS: brew install fluid-synth)" >&2
    exit 1
fi
ldconfig -p | grep -q 'libfluidsynth\.so\.3' || { echo "error: libfluidsynth3 installed but libfluidsynth.so.3 is still not found" >&2; exit 1; }
