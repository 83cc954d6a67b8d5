#!/usr/bin/env bash
# Runs every benchmark on this machine and rewrites BENCHMARKS.md with the figures, each beside
# its baseline measured in the same run. Usage: bench/run.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh >&2
cmake --preset release -DMANDATED_BUILD_BENCHMARKS=ON >/dev/null
cmake --build --preset release --target signer_bench >&2
min_time=1
if [ "${1:-}" = "--quick" ]; then min_time=0.2; fi
out=$(mktemp -d)
# Pin to one core so ours and raw see the same conditions.
taskset -c 0 ./build/release/bench/signer_bench --benchmark_min_time="$min_time" \
  --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
  --benchmark_format=json > "$out/signer.json"
python3 bench/report.py "$out/signer.json" > BENCHMARKS.md
echo "wrote BENCHMARKS.md" >&2
