#!/usr/bin/env bash
# Installs the Debian packages Limes needs (only those missing; apt-get update
# only when something must be installed), then configures and builds it.
#   deploy/setup.sh [BUILD_DIR] [extra cmake args...]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
shift || true

packages=(
  build-essential cmake pkg-config git
  libzmq3-dev libsodium-dev libprotobuf-c-dev protobuf-c-compiler libuv1-dev
  libsqlite3-dev libmicrohttpd-dev libjansson-dev libinih-dev
  libcriterion-dev libcurl4-openssl-dev
  clang-14 libclang-rt-14-dev
  nats-server libnats-dev sqlite3 curl procps
  chromium prometheus
)
missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# Node.js and npm drive the dashboard test; keep the machine's own if it has them
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >&2
cmake --build "$build" -j"$(nproc)" >&2
echo "setup: built in $build" >&2
