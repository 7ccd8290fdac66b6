#!/usr/bin/env bash
# netft's Core tests under AddressSanitizer (with LeakSanitizer) and
# ThreadSanitizer (Swift Testing runs them in parallel), and optimized
# (-c release: the demo and the daemon ship optimized, and the optimizer once
# broke the handshake where no debug test could see it), from Sanitizers/,
# which holds Core and its tests alone: a few seconds to build for each.
set -euo pipefail
cd "$(dirname "$0")/../Sanitizers"
export SWIFT_BACKTRACE=enable=no  # let the sanitizer report, not the backtracer
status=0
for sanitizer in address thread; do
  log=$(mktemp)
  # --disable-xctest: XCTest's empty runner leaks a few objects at exit (not netft's).
  if swift test --sanitize="$sanitizer" --scratch-path ".build-$sanitizer" --disable-xctest >"$log" 2>&1 \
      && ! grep -qE "ERROR: (Address|Leak)Sanitizer|WARNING: ThreadSanitizer" "$log"; then
    echo "sanitizer $sanitizer: $(grep -E 'Test run with' "$log" | tail -n 1)"
  else
    status=1
    echo "sanitizer $sanitizer: FAILED" >&2
    grep -E -A25 "ERROR: (Address|Leak)Sanitizer|WARNING: ThreadSanitizer|✘" "$log" | head -n 80 >&2 || tail -n 40 "$log" >&2
  fi
  rm -f "$log"
done
log=$(mktemp)
if swift test -c release -Xswiftc -enable-testing --scratch-path .build-release --disable-xctest >"$log" 2>&1; then
  echo "optimized (release): $(grep -E 'Test run with' "$log" | tail -n 1)"
else
  status=1
  echo "optimized (release): FAILED" >&2
  grep -E "✘|error:" "$log" | head -n 40 >&2 || tail -n 40 "$log" >&2
fi
rm -f "$log"
exit "$status"
