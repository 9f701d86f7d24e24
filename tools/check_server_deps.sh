#!/usr/bin/env bash
# The server links no device library: fail when `studio-server`'s normal dependencies, on any
# target, include a sound, X11 or platform-device crate, and show the path that pulls it in.
# (Devices live in `studio-devices`, which only the app depends on.)
set -euo pipefail
cd "$(dirname "$0")/.."

# Exact crate names: `windows-sys` and `windows-link`, which tokio and others use for system
# calls, are fine; the `windows` crate (COM, Media Foundation) is not.
forbidden=(alsa-sys cpal x11 x11-dl objc2 windows)

tree=(cargo tree --quiet -p studio-server -e normal --target all)
# One `name@version` per line, every package the server's graph holds.
packages=$("${tree[@]}" --prefix none --format '{p}' | awk '{ sub(/^v/, "", $2); print $1 "@" $2 }' | sort -u)

found=0
for name in "${forbidden[@]}"; do
  while IFS= read -r package; do
    [ -n "$package" ] || continue
    found=1
    echo "check_server_deps: studio-server depends on $package (a device library):"
    "${tree[@]}" --invert "$package"
    echo
  done < <(grep -E "^${name}@" <<<"$packages" || true)
done

if ((found)); then
  echo "check_server_deps: device code belongs in crates/devices, which the server must not use" >&2
  exit 1
fi
echo "check_server_deps: studio-server links no device library"
