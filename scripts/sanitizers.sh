#!/usr/bin/env bash
# netft's Core tests under AddressSanitizer (with LeakSanitizer) and
# ThreadSanitizer (Swift Testing runs them in parallel), from Sanitizers/,
# which holds Core and its tests alone: a few seconds to build under each.
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
exit "$status"
