#!/usr/bin/env bash
# skaffold's custom builder for the dev profile: the shared Dockerfile, like the docker builder of
# the default config, but declared as a custom artifact so that skaffold watches (and syncs) the
# Python sources instead of only the wheelhouse. skaffold sets IMAGE and PUSH_IMAGE.
#   k8s/dev/build-image.sh SERVICE
set -euo pipefail
service="${1:?usage: build-image.sh SERVICE}"
cd "$(dirname "$0")/../.."
.venv/bin/python -m shop_deploycheck.containers wheels
engine="$(command -v docker || command -v podman)"
"$engine" build --build-arg SERVICE="$service" --tag "$IMAGE" .
if [ "${PUSH_IMAGE:-false}" = true ]; then
  "$engine" push "$IMAGE"
fi
