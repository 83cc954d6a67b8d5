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
# Third-party interop peers, pinned by tests/interop/package-lock.json.
if [ ! -f tests/interop/node_modules/.package-lock.json ] ||
   [ tests/interop/package-lock.json -nt tests/interop/node_modules/.package-lock.json ]; then
  (cd tests/interop && npm ci --no-audit --no-fund --loglevel=error)
fi
werror=OFF
if [ "${MANDATED_WERROR:-0}" = "1" ]; then werror=ON; fi
cmake --preset "$preset" -DMANDATED_BUILD_TESTS=ON -DCMAKE_COMPILE_WARNING_AS_ERROR="$werror" >/dev/null
cmake --build --preset "$preset"
jobs=$(nproc)
ctest --preset "$preset" -j "$jobs" --timeout 600
