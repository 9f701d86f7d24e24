# shellcheck shell=bash
# Debian/Ubuntu packages the studio needs, in one place for `./start.sh`, `./test.sh` and CI.
# Sourced, not run: defines the package lists and `ensure_packages`.
# shellcheck disable=SC2034 # the lists are read by the scripts that source this file

# Building: a C and C++ compiler and linker (build-essential: rustc links with cc, and
# openh264 is C++), pkg-config and the ALSA headers for cpal, X11 record/input headers for rdev
# (the talk key), cmake for the bundled libopus (libopus-dev lets it link the system one), nasm
# for openh264's SIMD.
STUDIO_BUILD_PACKAGES=(build-essential pkg-config libasound2-dev libx11-dev libxtst-dev libxi-dev cmake libopus-dev nasm)
# Running the window and the virtual microphone: Vulkan (software rendering where no GPU driver
# provides it) and pactl/pacat.
STUDIO_RUN_PACKAGES=(libvulkan1 mesa-vulkan-drivers pulseaudio-utils)
# Testing: a private PulseAudio daemon for the sound-device tests, dbus-daemon for the talk-key
# portal test, python3-venv for the linters and stand-in models, Chromium for the browser test.
STUDIO_TEST_PACKAGES=(pulseaudio dbus python3-venv chromium)

# ensure_packages [--yes] PACKAGE...
# Lists the packages that are not installed, asks before installing them (unless --yes, CI is
# set, or they are all there), and installs them with apt-get (through sudo when not root).
ensure_packages() {
  local assume_yes=0
  if [ "${1:-}" = "--yes" ]; then
    assume_yes=1
    shift
  fi
  [ -n "${CI:-}" ] && assume_yes=1
  if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "studio: this is not a Debian or Ubuntu system; install the equivalents of: $*" >&2
    return 0
  fi
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  local sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  echo "studio: these system packages are missing: ${missing[*]}"
  if ((!assume_yes)); then
    if [ ! -t 0 ]; then
      echo "studio: install them with: ${sudo_cmd[*]} apt-get install ${missing[*]}" >&2
      return 1
    fi
    local answer
    read -r -p "Install them now with ${sudo_cmd[*]:+${sudo_cmd[*]} }apt-get? [Y/n] " answer
    case "$answer" in
      "" | [Yy]*) ;;
      *)
        echo "studio: not installed; the build needs them: ${sudo_cmd[*]} apt-get install ${missing[*]}" >&2
        return 1
        ;;
    esac
  fi
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
}
