#!/usr/bin/env bash
# The corpus's sources (Debian packages) and FluidSynth's Python binding.
# pyfluidsynth goes in with --no-deps: it declares pyaudio, which is not needed (nothing is
# played) and does not build without PortAudio headers.
set -euo pipefail
PACKAGES=(espeak-ng libfluidsynth3 fluid-soundfont-gm musescore-general-soundfont-small
          klettres-data sonic-pi-samples hydrogen-drumkits)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=$([ "$(id -u)" -eq 0 ] && echo "" || echo sudo)
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
python -m pip install -q --no-deps 'pyfluidsynth>=1.3'
