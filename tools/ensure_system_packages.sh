#!/bin/sh
# Installs the system packages timbre uses when they are missing (Debian/Ubuntu):
#   libfluidsynth3                      the FluidSynth library (SoundFont rendering)
#   musescore-general-soundfont-small   MuseScore General (Lite), a piano of the default source pool
#   csound-soundfont                    Csound's General MIDI bank, another piano of the pool
#   chromium                            the browser the browser page's tests drive (headless)
#   nodejs npm                          npm installs the page's packages (make web)
# Needs root or password-less sudo; otherwise prints the exact command to run.
# The SoundFonts are optional (the pool then has fewer pianos, with a warning);
# the FluidSynth library is required.
set -e
packages=""
ldconfig -p 2>/dev/null | grep -q 'libfluidsynth\.so\.3' || packages="$packages libfluidsynth3"
[ -f /usr/share/sounds/sf3/MuseScore_General_Lite.sf3 ] || packages="$packages musescore-general-soundfont-small"
[ -f /usr/share/sounds/sf2/sf_GMbank.sf2 ] || packages="$packages csound-soundfont"
[ -x /usr/bin/chromium ] || [ -n "$TIMBRE_CHROMIUM" ] || packages="$packages chromium"
command -v npm >/dev/null 2>&1 || packages="$packages nodejs npm"
[ -z "$packages" ] && exit 0
cmd="apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq$packages"
if [ "$(id -u)" = 0 ]; then
    echo "installing system packages:$packages"
    sh -c "$cmd" >/dev/null
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    echo "installing system packages (sudo):$packages"
    sudo sh -c "$cmd" >/dev/null
else
    echo "error: missing system packages:$packages; this user cannot install packages." >&2
    echo "run:  sudo apt-get install$packages   (macOS: brew install fluid-synth)" >&2
    exit 1
fi
ldconfig -p | grep -q 'libfluidsynth\.so\.3' || { echo "error: libfluidsynth3 installed but libfluidsynth.so.3 is still not found" >&2; exit 1; }
