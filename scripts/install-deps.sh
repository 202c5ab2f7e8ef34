#!/usr/bin/env bash
# Installs everything modemu needs to build, test and fuzz, from Debian 12 packages only.
# Run as root (or through sudo). Safe to run again: apt-get skips what is installed.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git
  clang-16 libclang-rt-16-dev
  # libraries (see DESIGN.md: the dependencies are chosen)
  libboost1.81-dev libusbgx-dev libprotobuf-dev protobuf-compiler
  libgrpc++-dev protobuf-compiler-grpc libfmt-dev doctest-dev
  libpugixml-dev libcli11-dev libusbredirparser-dev
  # real clients the tests drive
  ppp comgt python3-serial socat libqmi-utils qdl usbip
  # the testbed: a real kernel with real USB drivers under QEMU, and udev-based tools in it
  linux-image-amd64 busybox-static qemu-system-x86 modemmanager udev dbus polkitd tshark cpio kmod
)

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then exec sudo -E "$0" "$@"; fi
  echo "install-deps.sh: must run as root (apt-get needs it)" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps.sh: all ${#packages[@]} packages present"
  exit 0
fi
echo "install-deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
