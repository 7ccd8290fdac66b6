#!/usr/bin/env bash
# The main job (README.md): installs what is missing, builds netft, runs the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
swift build -c release --product netft
exec .build/release/netft smoke "$@"
