#!/usr/bin/env bash
# The main job: installs what modemu needs, builds it (release), and runs `modemu run` with the
# arguments given (none: a default Quectel EG12 on local ptys, with a live event log).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh >&2
cmake --preset release >/dev/null
cmake --build --preset release --target modemu >&2
exec ./build/release/grpc-api/modemu run "$@"
