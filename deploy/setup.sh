#!/usr/bin/env bash
# Installs the Debian packages Limes needs (only those missing; apt-get update
# only when something must be installed), then configures and builds it.
#   deploy/setup.sh [--test] [BUILD_DIR] [extra cmake args...]
# By default: what building Limes and running the demo need. With --test
# (tests/run.sh passes it): also the test suite's and the benchmark's tools
# (Criterion, clang for the fuzzers, NATS, Chromium and Node.js for the
# browser test, Prometheus's promtool, libseccomp, openssl, ...), and the
# tests and limes-bench are built. Without --test they are built only when
# their libraries happen to be installed already.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
with_tests=no
args=()
for a in "$@"; do
  if [ "$a" = --test ]; then with_tests=yes; else args+=("$a"); fi
done
set -- "${args[@]+"${args[@]}"}"
build=${1:-$here/build}
shift || true

# building Limes, its man pages, its package, and running deploy/demo.sh
packages=(
  build-essential cmake pkg-config git dpkg-dev scdoc
  libzmq3-dev libsodium-dev libprotobuf-c-dev protobuf-c-compiler libuv1-dev
  libsqlite3-dev libpq-dev libmicrohttpd-dev libjansson-dev libinih-dev libcurl4-openssl-dev
  curl procps python3
)
# the test suite and the benchmark
test_packages=(
  libcriterion-dev clang-14 libclang-rt-14-dev
  nats-server libnats-dev sqlite3 postgresql
  chromium prometheus
  libseccomp-dev systemd openssl iproute2 util-linux man-db
  faketime strace
)
installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}
[ "$with_tests" = yes ] && packages+=("${test_packages[@]}")
missing=()
for p in "${packages[@]}"; do
  installed "$p" || missing+=("$p")
done
# Node.js and npm drive the browser test; keep the machine's own if it has them
if [ "$with_tests" = yes ] && ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# the tests and the benchmark are built when asked for, or when their
# libraries are there anyway (a later argument overrides)
optional=()
if [ "$with_tests" = yes ]; then
  optional+=(-DLIMES_TESTS=ON -DLIMES_BENCH=ON)
else
  installed libcriterion-dev || optional+=(-DLIMES_TESTS=OFF)
  installed libnats-dev || optional+=(-DLIMES_BENCH=OFF -DLIMES_TESTS=OFF)
fi

cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${optional[@]+"${optional[@]}"}" "$@" >&2
cmake --build "$build" -j"$(nproc)" >&2
echo "setup: built in $build" >&2
