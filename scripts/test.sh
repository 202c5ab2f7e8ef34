#!/usr/bin/env bash
# Builds and passes every test: installs dependencies, then
#   1. debug build: unit tests (doctest), golden transcripts, fuzz corpus replay, and the
#      integration tests with real clients (chat, comgt, pyserial);
#   2. the same suite under ASan + UBSan, but for the QEMU testbed's tests (label "testbed");
#   3. the libFuzzer targets (clang-16), each for FUZZ_SECONDS (default 10) from its seed corpus;
#   4. the benchmarks with their short setting (figures only, never a pass/fail limit).
# The integration tests include the QEMU testbed (tests/testbed): real kernels, real drivers.
# Environment: FUZZ_SECONDS, JOBS (parallel build/test jobs, default: CPU count).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=${JOBS:-$(nproc)}
fuzz_seconds=${FUZZ_SECONDS:-10}

# Each step's heading carries the minutes and seconds since the start, so a slow stage shows.
step() { printf '\n=== [%02d:%02d] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }

step "dependencies"
./scripts/install-deps.sh

for preset in debug asan; do
  step "build and test: $preset"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  if [ "$preset" = asan ]; then
    # The testbed's guests (label "testbed") ran against the debug build; under ASan every other
    # test runs, the integration tests with real clients on local transports included.
    ctest --preset "$preset" -j "$jobs" -LE testbed
  else
    ctest --preset "$preset" -j "$jobs"
  fi
done

step "fuzz: ${fuzz_seconds}s per target (clang-16, libFuzzer)"
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$jobs"
# One libFuzzer process per target, JOBS at a time (each uses one core); each writes its verdict
# and, on a failure, its log into its own directory, shown in target order at the end.
results=$(mktemp -d)
fuzz_one() {
  local name=$1 work
  work=$(mktemp -d)
  cp -r "tests/fuzz/corpus/$name/." "$work/"
  if (cd "$work" && "$root/build/fuzz/tests/fuzz/fuzz_$name" -max_total_time="$fuzz_seconds" -print_final_stats=1 \
        -artifact_prefix="$work/" "$work" >"$work/log" 2>&1); then
    echo "fuzz $name: $(grep -E '^stat::number_of_executed_units' "$work/log" | awk '{print $2}') runs, no crash" \
      >"$results/$name.ok"
  else
    # Keep what broke it: it becomes a named file in tests/fuzz/regressions/$name.
    local kept="$root/build/fuzz-findings/$name"
    mkdir -p "$kept"
    cp "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$kept/" 2>/dev/null || true
    { echo "fuzz $name: FAILED; the input that broke it is kept in $kept:"; ls "$kept"; tail -40 "$work/log"; } \
      >"$results/$name.failed"
  fi
  rm -rf "$work"
}
names=()
for fuzzer in build/fuzz/tests/fuzz/fuzz_*; do names+=("${fuzzer##*/fuzz_}"); done
for name in "${names[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  fuzz_one "$name" &
done
wait
passed=0
failed=0
for name in "${names[@]}"; do
  if [ -f "$results/$name.ok" ]; then
    cat "$results/$name.ok"
    passed=$((passed + 1))
  else
    cat "$results/$name.failed" 2>/dev/null || echo "fuzz $name: FAILED (no verdict)"
    failed=$((failed + 1))
  fi
done
rm -rf "$results"
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

step "benchmarks (short; figures only, from the debug build: bench/run.sh gives release figures)"
./build/debug/bench/bench_at_roundtrip --short
./build/debug/bench/bench_qmi_requests --short
./build/debug/bench/bench_scenario_engine --short
./build/debug/bench/bench_data_path --short
./build/debug/bench/bench_grpc_load --short
# The testbed benchmark's guests, over usbredir only (USB/IP and the gadget: bench/run.sh).
/usr/bin/python3 bench/testbed_bench.py --short --transport usbredir --modemu build/debug/grpc-api/modemu
/usr/bin/python3 bench/firehose_usb2tcp.py --short --modemu build/debug/grpc-api/modemu

step "all tests passed"
