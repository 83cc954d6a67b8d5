#!/usr/bin/env bash
# Runs every benchmark on this machine and rewrites BENCHMARKS.md with the figures, each beside
# its baseline measured in the same run. Usage: bench/run.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh >&2
cmake --preset release -DMANDATED_BUILD_BENCHMARKS=ON >/dev/null
cmake --build --preset release --target signer_bench >&2
min_time=0.3
rounds=10
if [ "${1:-}" = "--quick" ]; then min_time=0.2; rounds=3; fi
out=$(mktemp -d)
# Each round runs every benchmark once, pinned to one core, in registration order: each *ours*
# right before its *raw*. report.py rates each benchmark by its fastest round (interference only
# slows rounds down) and shows the spread of the per-round ratios.
for round in $(seq "$rounds"); do
  echo "round $round of $rounds" >&2
  taskset -c 0 ./build/release/bench/signer_bench --benchmark_min_time="$min_time" \
    --benchmark_format=json > "$out/signer-$round.json"
done
python3 bench/report.py "$out"/signer-*.json > BENCHMARKS.md
echo "wrote BENCHMARKS.md" >&2
