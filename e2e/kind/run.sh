#!/usr/bin/env bash
# `make e2e-kind`: backup and restore through real pods on a kind cluster. Needs Docker; where none
# runs it says so and exits 3 before building anything. Otherwise builds the pinned tools, the npm
# dependencies, the image (with Docker, from the Dockerfile) and kind (into the tool cache), then
# runs e2e/kind/run.ts.
# Arguments are passed on (--keep leaves the kind cluster running).
set -euo pipefail
EXIT_NO_DOCKER=3
root=$(cd "$(dirname "$0")/../.." && pwd)

if ! command -v docker >/dev/null 2>&1; then
  echo "make e2e-kind needs Docker; none runs on this machine (no docker command on PATH)" >&2
  exit $EXIT_NO_DOCKER
fi
if ! problem=$(docker info --format '{{.ServerVersion}}' 2>&1); then
  echo "make e2e-kind needs Docker; none runs on this machine (docker info: $(printf '%s\n' "$problem" | grep -v '^\s*$' | tail -1))" >&2
  exit $EXIT_NO_DOCKER
fi

cd "$root"
make --no-print-directory tools deps
docker build -q -t blobstash:dev "$root"
TOOLS_ONLY=kind bash e2e/tools/install.sh
PATH="$root/bin:$root/node_modules/.bin:$(bash e2e/tools/install.sh --print-path):$PATH"
exec node e2e/kind/run.ts "$@"
