#!/usr/bin/env bash
# The test command (README.md, .ci/run): installs what is missing, builds,
# runs every test. Kernel tests need root; they fail, never skip, without it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
swift build --build-tests
# The README walkthrough (a test) reads the dissector where scripts/install.sh puts it.
install -D -m 0644 dist/netft.lua /usr/local/share/netft/netft.lua
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
# --no-parallel: the kernel suites share two cores and time heartbeats in
# tens of milliseconds; run one at a time so load from one cannot fail another.
swift test --skip-build --no-parallel "$@" 2>&1 | tee "$log" || status=$?
# The fuzz lane (libFuzzer + ASan over the codec and the engine) and the
# sanitizer lanes (Core's tests under ASan and TSan): a few minutes together.
if [ $# -eq 0 ]; then
  bash scripts/fuzz.sh || status=1
  bash scripts/sanitizers.sh || status=1
fi
# One plain closing line for readers of the log (swift test prints an empty
# XCTest summary before the Swift Testing one).
summary=$(grep -E 'Test run with [0-9]+ tests? ' "$log" | tail -n 1 || true)
tests=$(sed -nE 's/.*Test run with ([0-9]+) tests?.*/\1/p' <<<"$summary")
failed=$(grep -E '^✘ Test .* failed after' "$log" | grep -cv '^✘ Test run with' || true)
if [ -n "$tests" ]; then
  echo "tests: $((tests - failed)) passed, $failed failed"
fi
exit "$status"
