#!/usr/bin/env bash
# Installs the Debian 12 packages mandated builds and tests with. Idempotent: does nothing when
# everything is already installed. Runs apt-get as root, or through sudo.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config g++ clang libclang-rt-14-dev
  libssl-dev librocksdb-dev libsecp256k1-dev libcpp-httplib-dev nlohmann-json3-dev zlib1g-dev tzdata
  libgtest-dev libgmock-dev libbenchmark-dev
  curl ca-certificates
  # The hostile HTTP tests run a slow-header attack (slowhttptest) through nginx.
  nginx slowhttptest
)

# Node.js and npm run the interop peers (jose, did-jwt, x402...). A machine may already have a
# Node.js with its own npm, which Debian's npm package conflicts with: use it when present.
if ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "install-deps: need root or sudo to install: ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
