#!/usr/bin/env bash
# Installs dependencies, builds everything and runs every test with ctest.
#   scripts/test.sh                     # dev preset (Debug)
#   scripts/test.sh --preset asan-ubsan # the same suite under AddressSanitizer + UBSan
# Set MANDATED_WERROR=1 to turn compiler warnings into errors (CI does).
set -euo pipefail
cd "$(dirname "$0")/.."
preset=dev
while [ $# -gt 0 ]; do
  case "$1" in
    --preset) preset="$2"; shift 2 ;;
    --preset=*) preset="${1#--preset=}"; shift ;;
    *) echo "usage: scripts/test.sh [--preset dev|asan-ubsan|tsan|release]" >&2; exit 2 ;;
  esac
done
bash scripts/install-deps.sh
werror=OFF
if [ "${MANDATED_WERROR:-0}" = "1" ]; then werror=ON; fi
cmake --preset "$preset" -DMANDATED_BUILD_TESTS=ON -DCMAKE_COMPILE_WARNING_AS_ERROR="$werror" >/dev/null
cmake --build --preset "$preset"
jobs=$(nproc)
ctest --preset "$preset" -j "$jobs" --timeout 600
