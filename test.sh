#!/usr/bin/env bash
# Run the tests: install the system packages they need (asking first), then the whole workspace.
# Arguments are passed to `cargo test` (e.g. `./test.sh -p studio-media`).
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=scripts/packages.sh
source scripts/packages.sh
ensure_packages "${STUDIO_BUILD_PACKAGES[@]}" "${STUDIO_RUN_PACKAGES[@]}" "${STUDIO_TEST_PACKAGES[@]}"
if [ "$#" -eq 0 ]; then
  set -- --workspace
fi
cargo test "$@"
