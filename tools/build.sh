#!/usr/bin/env bash
# Configures (once) and builds dynkv into ./build.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build/build.ninja ]; then
  meson setup build --buildtype=debugoptimized
fi
meson compile -C build
