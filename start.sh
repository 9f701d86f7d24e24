#!/usr/bin/env bash
# Start the studio: install the system packages it needs (asking first), build, run.
# Arguments are passed to `studio` (e.g. `./start.sh doctor`).
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=scripts/packages.sh
source scripts/packages.sh
ensure_packages "${STUDIO_BUILD_PACKAGES[@]}" "${STUDIO_RUN_PACKAGES[@]}"
cargo build --release -p studio-app -p studio-server
exec ./target/release/studio "$@"
