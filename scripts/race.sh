#!/usr/bin/env bash
# Race tests under ThreadSanitizer (specs/testing.md §Races): configures the clang `tsan` preset,
# builds only the race test binary (and the libraries it links), and runs it. Fails on any test
# failure and on any data race or lock-order report.
#   scripts/race.sh [gtest filter]      # e.g. scripts/race.sh 'RaceTest.OneX402*'
#   MANDATED_TEST_SEED=<n> scripts/race.sh   # replay a run's choices (printed by each test)
# tests/race/tsan.supp lists the suppressions (third-party frames only) and why.
set -euo pipefail
cd "$(dirname "$0")/.."
filter="${1:-*}"
bash scripts/install-deps.sh
build=build/tsan
werror=OFF
if [ "${MANDATED_WERROR:-0}" = "1" ]; then werror=ON; fi
cmake --preset tsan -DMANDATED_BUILD_TESTS=ON -DCMAKE_COMPILE_WARNING_AS_ERROR="$werror" >/dev/null
cmake --build "$build" --target race_test
# halt_on_error: the first report fails the run; second_deadlock_stack: both stacks of a
# lock-order inversion. ignore_noninstrumented_modules: memcpy/memcmp called from libraries not
# built with TSan (libstdc++'s out-of-line string code, which RocksDB's group commit uses to merge
# the writers' batches handed over through its uninstrumented atomics) are not reported; their
# frames would be invisible anyway (tests/race/tsan.supp covers the RocksDB code linked in).
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:history_size=4:ignore_noninstrumented_modules=1:suppressions=$PWD/tests/race/tsan.supp"
"$build/tests/race/race_test" --gtest_filter="$filter"
