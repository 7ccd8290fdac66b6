#!/usr/bin/env bash
# The test command (README.md, .ci/run): installs what is missing, builds,
# runs every test. Kernel tests need root; they fail, never skip, without it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
swift build --build-tests
swift test --skip-build "$@"
