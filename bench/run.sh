#!/usr/bin/env bash
# Runs every benchmark on this machine and rewrites BENCHMARKS.md with the figures, each beside
# its baseline measured in the same run. Usage: bench/run.sh [--quick]
# MANDATED_BENCH_BUILD_DIR picks the build directory (default build/release, the release preset's).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
phase() {  # prints how long the run has taken so far, so a slow phase shows
  echo "== bench/run.sh: $1 at $(( $(date +%s) - started )) s ==" >&2
}
build="${MANDATED_BENCH_BUILD_DIR:-build/release}"
bash scripts/install-deps.sh >&2
cmake --preset release -B "$build" -DMANDATED_BUILD_BENCHMARKS=ON >/dev/null
cmake --build "$build" --target signer_bench mandate_bench audit_bench audit_fixture >&2
min_time=0.3
mandate_min_time=0.2  # 16 mandate benchmarks: keeps the whole run under about 3 minutes
rounds=10
split_rounds=4        # the first rounds also time the pieces of issue and verify (MandateSplit/)
audit_min_time=0.2    # audit_bench: the log it builds, not the timing, takes most of its time
if [ "${1:-}" = "--quick" ]; then
  min_time=0.2; mandate_min_time=0.1; rounds=3; split_rounds=2; audit_min_time=0.1
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# Each round runs every benchmark once, pinned to one core, in registration order: each *ours*
# right before its *raw* (signer_bench), each issue and verify right before its raw signature
# (mandate_bench, a separate process right after; in the first rounds a third process times the
# pieces of issue and verify). report.py rates each benchmark by its fastest round (interference
# only slows rounds down) and shows the spread of the per-round ratios.
phase "built"
for round in $(seq "$rounds"); do
  echo "round $round of $rounds" >&2
  taskset -c 0 "$build/bench/signer_bench" --benchmark_min_time="$min_time" \
    --benchmark_format=json > "$out/signer-$round.json"
  taskset -c 0 "$build/bench/mandate_bench" --benchmark_filter='^Mandate/' \
    --benchmark_min_time="$mandate_min_time" --benchmark_format=json > "$out/mandate-$round.json"
  if [ "$round" -le "$split_rounds" ]; then
    taskset -c 0 "$build/bench/mandate_bench" --benchmark_filter='^MandateSplit/' \
      --benchmark_min_time=0.05 --benchmark_format=json > "$out/split-$round.json"
  fi
done
# Audit trail (bench/audit_bench.cc): one run, pinned to one core. It builds one RocksDB log of
# up to 10^6 events in a temporary directory (about 2.5 GB, removed at exit) and measures
# sequencing, trails, export verification and inclusion proofs as it grows. Its section is
# appended at the end (bench/load_report.py --audit).
# Its "10^7 events (fixture)" subsection is not measured here (about 15 minutes and 4 GB): it
# is the by-hand measurement kept in bench/results/audit-fixture-1e7.jsonl (bench/results/
# README.md says how it was made), appended after this run's audit section.
# Peer comparison: npm jose verifying the tokens JwsVerify/<alg>/ours verifies, pinned to the
# same core (tests/interop/jose_verify_bench.mjs; its node_modules come from scripts/test.sh's
# `npm ci`, done here too when missing).
phase "microbenchmarks done"
if [ ! -f tests/interop/node_modules/.package-lock.json ]; then
  (cd tests/interop && npm ci --no-audit --no-fund --loglevel=error) >&2
fi
"$build/bench/signer_bench" --export-jws "$out/jws.json" --benchmark_filter='^$' >/dev/null 2>&1
test -s "$out/jws.json"
jose_seconds=2
if [ "${1:-}" = "--quick" ]; then jose_seconds=1; fi
taskset -c 0 node tests/interop/jose_verify_bench.mjs "$out/jws.json" "$jose_seconds" \
  > "$out/jose.jsonl"
phase "jose done"
echo "audit trail" >&2
taskset -c 0 "$build/bench/audit_bench" --benchmark_min_time="$audit_min_time" \
  --benchmark_format=json > "$out/audit.json"
phase "audit trail done"
python3 bench/report.py --jose "$out/jose.jsonl" "$out"/signer-*.json "$out"/mandate-*.json "$out"/split-*.json \
  > "$out/BENCHMARKS.md"
mv "$out/BENCHMARKS.md" BENCHMARKS.md
echo "wrote BENCHMARKS.md" >&2

# ---- Load (HTTP over loopback): bench/load.sh drives a real server; its own section is
# appended (bench/load_report.py). --quick shortens each step.
# Every scenario at 1, 16 and 256 connections, 1 s warm-up and 4 s measured each.
load_args=(--out "$out/load.jsonl" --ratio-run --duration 4 --warmup 1)
if [ "${1:-}" = "--quick" ]; then load_args+=(--duration 2 --warmup 1); fi
MANDATED_BENCH_BUILD_DIR="$build" bash bench/load.sh "${load_args[@]}"
{ echo; python3 bench/load_report.py "$out/load.jsonl"; } >> BENCHMARKS.md
echo "appended the load section to BENCHMARKS.md" >&2
phase "load done"

# ---- Cost growth with the events stored: the real server started on an audit_fixture store
# (bench/audit_fixture: the service's own store with N sequenced events of the audit mix) at
# 10^4 then 10^6 events (the same fixture continued), authorize and the trail of one purchase
# driven at 16 connections on each. 10^7 takes about 15 minutes to build: measured by hand
# and kept in bench/results/growth-1e7.jsonl (its README says how), copied in here.
growth_sizes="10000 1000000"
if [ "${1:-}" = "--quick" ]; then growth_sizes="10000 100000"; fi
fixture="$out/fixture"
: > "$out/growth.jsonl"
for n in $growth_sizes; do
  "$build/bench/audit_fixture" --dir "$fixture" --events "$n" >> "$out/growth-build.jsonl"
  MANDATED_BENCH_BUILD_DIR="$build" bash bench/load.sh --out "$out/growth-$n.jsonl" --no-build \
    --data-dir "$fixture/data" --run "growth-$n" --scenarios authorize,trail --connections 16 \
    --duration 3 --warmup 1
  cat "$out/growth-$n.jsonl" >> "$out/growth.jsonl"
done
rm -rf "$fixture"
# 10^7: the by-hand measurement (bench/results/README.md), its rows marked so.
if [ -s bench/results/growth-1e7.jsonl ]; then
  cat bench/results/growth-1e7.jsonl >> "$out/growth.jsonl"
fi
{ echo; python3 bench/load_report.py --growth "$out/growth.jsonl"; } >> BENCHMARKS.md
phase "cost growth done"
{ echo; python3 bench/load_report.py --audit "$out/audit.json"; } >> BENCHMARKS.md
if [ -s bench/results/audit-fixture-1e7.jsonl ]; then
  { echo; python3 bench/load_report.py --audit-fixture bench/results/audit-fixture-1e7.jsonl; } \
    >> BENCHMARKS.md
fi
echo "appended the audit trail section to BENCHMARKS.md" >&2

# ---- x402 (issue 8): our facilitator's verify beside the reference's (npm, node, same run) and
# usage batch ingestion; bench/x402_load.sh, about 2 minutes (the build is load.sh's).
x402_args=(--out "$out/x402.jsonl" --no-build --connections "1 16 256" --rounds 2 --duration 4)
if [ "${1:-}" = "--quick" ]; then x402_args+=(--rounds 1 --duration 2 --warmup 1); fi
MANDATED_BENCH_BUILD_DIR="$build" bash bench/x402_load.sh "${x402_args[@]}"
# The recovery's cost in its notes is this run's Recover/secp256k1 (the signer rounds above).
{ echo; python3 bench/load_report.py --x402 "$out/x402.jsonl" --signer "$out"/signer-*.json; } \
  >> BENCHMARKS.md
echo "appended the x402 section to BENCHMARKS.md" >&2
phase "finished"
