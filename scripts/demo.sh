#!/usr/bin/env bash
# The main job (README.md): installs what is missing, builds netft, runs the lab:
# a 3-node, 2-network cluster in namespaces with the field's failures replayed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
swift build -c release --product netft
exec .build/release/netft lab "$@"
