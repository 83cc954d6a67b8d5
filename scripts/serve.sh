#!/usr/bin/env bash
# Installs dependencies, builds mandated (release preset) and runs the server in the foreground on
# its defaults: data in ./mandated-data, listening on 127.0.0.1:8420. Extra arguments go to the
# server (see `scripts/serve.sh --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh >&2
cmake --preset release >/dev/null
cmake --build --preset release --target mandated mandatectl >&2
exec ./build/release/api/mandated "$@"
