#!/usr/bin/env bash
# Runs the benchmarks on a release build. --short: the quick setting CI uses.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --preset release >/dev/null
cmake --build --preset release --target bench_at_roundtrip bench_qmi_requests bench_scenario_engine bench_data_path \
  bench_grpc_load
./build/release/bench/bench_at_roundtrip "$@"
./build/release/bench/bench_qmi_requests "$@"
./build/release/bench/bench_scenario_engine "$@"
./build/release/bench/bench_data_path "$@"
./build/release/bench/bench_grpc_load "$@"
cmake --build --preset release --target modemu
/usr/bin/python3 bench/testbed_bench.py "$@"
/usr/bin/python3 bench/firehose_usb2tcp.py "$@"
