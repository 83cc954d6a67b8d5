#!/usr/bin/env bash
# Bounded fuzzing (specs/testing.md §Fuzzing): configures the clang `fuzz` preset, builds only the
# libFuzzer targets (ninja fuzz_all, not the test suite), and runs each for a fixed time starting
# from its committed seed corpus (tests/fuzz/corpus/<target>/). Fails if any target crashes,
# leaks, trips ASan/UBSan or breaks one of its properties.
#   scripts/fuzz.sh [seconds per target]        # default 30
#   FUZZ_TARGETS="json x402" scripts/fuzz.sh 60  # only some targets
# Inputs found along the way are kept in build/fuzz/corpus/<target>/ (not committed); a failing
# input is saved as build/fuzz/artifacts/<target>/crash-<sha1> (also leak-, timeout-, oom-) and
# its path printed; replay one with build/fuzz/tests/fuzz/fuzz_<target> <file>.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"
case "$seconds" in ''|*[!0-9]*) echo "usage: scripts/fuzz.sh [seconds-per-target]" >&2; exit 2 ;; esac
bash scripts/install-deps.sh
build=build/fuzz
werror=OFF
if [ "${MANDATED_WERROR:-0}" = "1" ]; then werror=ON; fi
cmake --preset fuzz -DMANDATED_BUILD_TESTS=OFF -DCMAKE_COMPILE_WARNING_AS_ERROR="$werror" >/dev/null
targets="${FUZZ_TARGETS:-$(ls tests/fuzz/corpus)}"
ninja_targets=()
for t in $targets; do ninja_targets+=("fuzz_$t"); done
cmake --build "$build" --target "${ninja_targets[@]}"

failed=()
for t in $targets; do
  corpus="$build/corpus/$t"
  artifacts="$build/artifacts/$t"
  mkdir -p "$corpus" "$artifacts"
  echo "== fuzz $t for ${seconds}s"
  # -rss_limit_mb: a decoder that balloons memory is a finding; -timeout: so is one slow input.
  # ASan leak checking is on (libFuzzer reports leaks as failures).
  if ! ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:allocator_may_return_null=1" \
       UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
       "$build/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
         -max_len=16384 -print_final_stats=1 -artifact_prefix="$artifacts/" \
         "$corpus" "tests/fuzz/corpus/$t" > "$build/fuzz-$t.log" 2>&1; then
    failed+=("$t")
    echo "FAIL: fuzz_$t (log: $build/fuzz-$t.log)"
    grep -E "ERROR|FUZZ_CHECK|SUMMARY|Test unit written|artifact" "$build/fuzz-$t.log" | head -20 || true
  else
    grep -E "^stat::number_of_executed_units|^#[0-9]+.*DONE" "$build/fuzz-$t.log" | tail -2 || true
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: all targets ran ${seconds}s without a finding"
