#!/usr/bin/env bash
# Runs `tsc -p CONFIG` only when a file under DIRS (or the config, or the lockfile) changed since
# its last clean run, so a start with nothing changed costs no compiler (tsc takes ~55 s, ~475 MB).
#   tsc-changed.sh CONFIG DIR...
set -euo pipefail
cd "$(dirname "$0")/.."
config=$1; shift
stamp=dist/.tsc-$(basename "$config" .json).stamp
if [ -f "$stamp" ] && [ -z "$(find "$@" "$config" tsconfig.json package-lock.json -newer "$stamp" -print -quit)" ]; then
  exit 0
fi
mkdir -p dist
npx --no-install tsc -p "$config"
touch "$stamp"
