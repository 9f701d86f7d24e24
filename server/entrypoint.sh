#!/bin/sh
# The server image's entrypoint: everything comes from the pod's environment.
#   STUDIO_ROLE   video | audio (required)
#   STUDIO_TOKEN  the bearer token clients must present (required; never printed)
#   STUDIO_PORT   HTTP port (default 8000, the pod's 8000/http)
#   STUDIO_HOST   bind address (default 0.0.0.0: RunPod's proxy reaches the container)
#   STUDIO_CACHE_DIR  model cache (default /workspace/models, on the pod volume, so models
#                 survive a restart of the container)
# RunPod sets RUNPOD_PUBLIC_IP and RUNPOD_TCP_PORT_<n> for the symmetric TCP port asked for
# (STUDIO_ICE_TCP_REQUESTED, default 70000); they are passed on as STUDIO_PUBLIC_IP and
# STUDIO_ICE_TCP_PORT, where the server listens for and advertises its ICE-TCP candidate.
set -eu

fail() {
  echo "entrypoint: $*" >&2
  exit 64
}

case "${STUDIO_ROLE:-}" in
  video | audio) ;;
  "") fail "STUDIO_ROLE is not set (video or audio)" ;;
  *) fail "STUDIO_ROLE must be video or audio, not '${STUDIO_ROLE}'" ;;
esac
[ -n "${STUDIO_TOKEN:-}" ] || fail "STUDIO_TOKEN is not set"

export STUDIO_HOST="${STUDIO_HOST:-0.0.0.0}"
export STUDIO_PORT="${STUDIO_PORT:-8000}"
export STUDIO_CACHE_DIR="${STUDIO_CACHE_DIR:-/workspace/models}"
mkdir -p "$STUDIO_CACHE_DIR" || fail "cannot create the model cache $STUDIO_CACHE_DIR"

requested_ice="${STUDIO_ICE_TCP_REQUESTED:-70000}"
mapped_ice=$(printenv "RUNPOD_TCP_PORT_${requested_ice}" || true)
if [ -n "$mapped_ice" ]; then
  export STUDIO_ICE_TCP_PORT="$mapped_ice"
fi
if [ -n "${RUNPOD_PUBLIC_IP:-}" ]; then
  export STUDIO_PUBLIC_IP="$RUNPOD_PUBLIC_IP"
fi

echo "entrypoint: $STUDIO_ROLE server on $STUDIO_HOST:$STUDIO_PORT, models in $STUDIO_CACHE_DIR" >&2
exec studio-server "$@"
