#!/usr/bin/env bash
# libFuzzer over netft's Core (Fuzz/): the frame codec and a NodeEngine that
# holds a session, both under AddressSanitizer, starting from the committed
# seed corpus (Fuzz/Corpus). Bounded runs for CI; more with RUNS_SCALE=10.
#   bash scripts/fuzz.sh           # CI lane: ~1 min, fails on any crash
#   bash scripts/fuzz.sh --seeds   # rewrite Fuzz/Corpus from node2's genuine frames
set -euo pipefail
cd "$(dirname "$0")/../Fuzz"
scale=${RUNS_SCALE:-1}
# Swift's backtracer reads memory ASan calls out of bounds: let ASan report.
export SWIFT_BACKTRACE=enable=no
# -sanitize=fuzzer links libFuzzer's main; the coverage flags instrument every
# target (SwiftPM adds -sanitize=fuzzer to the link only).
swift build --sanitize=fuzzer --sanitize=address \
  -Xswiftc -sanitize-coverage=edge,trace-cmp,inline-8bit-counters,pc-table 2>&1 | grep -vE "ld.gold: warning: Cannot export local symbol" || true
bin=$(swift build --show-bin-path --sanitize=fuzzer --sanitize=address)
[ -x "$bin/FuzzFrameCodec" ] && [ -x "$bin/FuzzNodeEngine" ] || { echo "fuzz: the targets did not build" >&2; exit 1; }

if [ "${1:-}" = "--seeds" ]; then
  rm -f Corpus/FrameCodec/* Corpus/NodeEngine/*
  NETFT_FUZZ_SEEDS="$PWD/Corpus" "$bin/FuzzNodeEngine"
  echo "fuzz: wrote $(ls Corpus/FrameCodec | wc -l) FrameCodec and $(ls Corpus/NodeEngine | wc -l) NodeEngine seeds"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
for target in FrameCodec:500000 NodeEngine:60000; do
  name=${target%%:*}
  runs=$(( ${target##*:} * scale ))
  mkdir -p "$work/$name"
  # New inputs go to the scratch directory; the committed corpus is only read.
  if "$bin/Fuzz$name" -runs="$runs" -seed=1 -rss_limit_mb=4096 -artifact_prefix="$work/" \
      "$work/$name" "Corpus/$name" > "$work/$name.log" 2>&1; then
    echo "fuzz $name: $(grep -E '^#[0-9]+[[:space:]]+DONE' "$work/$name.log" | tail -n 1)"
  else
    status=1
    echo "fuzz $name: FAILED" >&2
    grep -E "ERROR|SUMMARY|Fatal error|Precondition|Test unit written|Base64" "$work/$name.log" >&2 || tail -n 30 "$work/$name.log" >&2
    for crash in "$work"/crash-* "$work"/leak-* "$work"/timeout-*; do
      [ -e "$crash" ] && cp "$crash" "${TMPDIR:-/tmp}/netft-fuzz-$name-$(basename "$crash")" && echo "  input kept at ${TMPDIR:-/tmp}/netft-fuzz-$name-$(basename "$crash")" >&2
    done
  fi
done
exit "$status"
