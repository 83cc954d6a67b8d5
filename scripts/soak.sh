#!/usr/bin/env bash
# Soak: mixed load with faults for a given time (not run in CI), then every invariant check and
# a final PASS/FAIL line. Each cycle runs the full-disk, storage-fault and clock-jump tests once
# and then the SIGKILL crash loop (fresh data directory and seed each cycle) for the rest of the
# cycle, at most 10 minutes, until the duration has passed.
#   scripts/soak.sh 60s | 30m | 1h | 3600    (seconds when no unit)
# Environment: MANDATED_BUILD_DIR (default build/dev; built here if needed), MANDATED_FAULT_SEED
# (the first cycle's seed; later cycles add the cycle number). Logs go to $MANDATED_SOAK_LOGS
# (default a fresh directory under $TMPDIR).
set -uo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: scripts/soak.sh DURATION   (e.g. 60s, 30m, 1h)" >&2; exit 2; }
[ $# -eq 1 ] || usage
case "$1" in
  *h) total=$(( ${1%h} * 3600 )) ;;
  *m) total=$(( ${1%m} * 60 )) ;;
  *s) total=${1%s} ;;
  *[!0-9]*|'') usage ;;
  *) total=$1 ;;
esac
[ "$total" -gt 0 ] 2>/dev/null || usage

build=${MANDATED_BUILD_DIR:-build/dev}
if [ ! -f "$build/build.ninja" ] && [ ! -f "$build/Makefile" ]; then
  cmake --preset dev -DMANDATED_BUILD_TESTS=ON >/dev/null || exit 1
fi
cmake --build "$build" --target fault_test mandated || exit 1
bin="$build/tests/fault/fault_test"
logs=${MANDATED_SOAK_LOGS:-$(mktemp -d "${TMPDIR:-/tmp}/mandated-soak.XXXXXX")}
mkdir -p "$logs"
base_seed=${MANDATED_FAULT_SEED:-$(date +%s%N)}

start=$(date +%s)
deadline=$(( start + total ))
cycle=0
runs=0
failed=0
failures=()

# run NAME FILTER [ENV...]: one test of fault_test; prints its invariant lines and verdict.
run() {
  local name=$1 filter=$2; shift 2
  local seed=$(( base_seed + cycle ))
  local log="$logs/cycle$cycle-$name.log"
  env MANDATED_FAULT_SEED="$seed" "$@" "$bin" --gtest_filter="$filter" >"$log" 2>&1
  local rc=$?
  runs=$((runs + 1))
  grep -E '^\[ (figures|refused) +\]|^\[invariant\]' "$log" | sed "s/^/  [$name] /"
  if [ $rc -eq 0 ] && grep -q '\[  PASSED  \] 1 test' "$log"; then
    if grep -q '\[  SKIPPED \]' "$log"; then
      echo "cycle $cycle $name: SKIPPED ($(grep -m1 -A1 'SKIPPED\|Skipped' "$log" | tail -1))"
    else
      echo "cycle $cycle $name: PASS (seed $seed)"
    fi
  else
    failed=$((failed + 1))
    failures+=("cycle $cycle $name: replay with MANDATED_FAULT_SEED=$seed ($log)")
    echo "cycle $cycle $name: FAIL (replay with MANDATED_FAULT_SEED=$seed; log $log)"
    grep -E 'Failure|FAIL |Expected|Which is|replay with' "$log" | head -20 | sed 's/^/    /'
  fi
}

echo "soak: ${total}s from $(date -u +%FT%TZ), logs in $logs, first seed $base_seed"
while [ "$(date +%s)" -lt "$deadline" ]; do
  cycle=$((cycle + 1))
  run full-disk 'FullDiskTest.*'
  run storage-faults 'StorageFaultTest.*'
  run clock-jumps 'ClockJumpTest.*'
  left=$(( deadline - $(date +%s) ))
  [ "$left" -gt 600 ] && left=600
  [ "$left" -lt 5 ] && left=5
  run crash-loop 'CrashLoopTest.*' MANDATED_FAULT_DURATION_S="$left"
done

echo "soak: $cycle cycles, $runs runs, $(( $(date +%s) - start ))s"
for f in "${failures[@]}"; do echo "  $f"; done
if [ "$failed" -eq 0 ]; then
  echo "SOAK PASS: every invariant held in $runs runs"
  exit 0
fi
echo "SOAK FAIL: $failed of $runs runs broke an invariant"
exit 1
