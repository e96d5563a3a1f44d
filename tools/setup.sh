#!/usr/bin/env bash
# Installs every Debian 12 package dynkv needs to build, test and benchmark.
# Does nothing when they are all present. Safe to run again.
set -euo pipefail

packages=(
  # build
  meson ninja-build pkg-config g++
  # libraries (DESIGN.md: Dependencies)
  libuv1-dev libprotobuf-dev protobuf-compiler libleveldb-dev libzstd-dev
  libyaml-cpp-dev doctest-dev libxxhash-dev libbenchmark-dev libhttp-parser-dev
  # dynkvd's malloc (meson option allocator)
  libjemalloc-dev
  # TLS on the client and peer ports (security.tls); the openssl command
  # makes the tests' certificates (tools/tls-certs.sh)
  libssl-dev openssl
  # the command-line tools: JSON output and command lines (header-only)
  nlohmann-json3-dev libcli11-dev
  # the fuzz targets (tools/fuzz.sh): clang with libFuzzer and the sanitizers
  clang libclang-rt-14-dev
  # scripts, integration tests and chaos harness (Debian's python3)
  python3 python3-protobuf python3-matplotlib python3-plyvel python3-prometheus-client
  # the Python client's install test: a venv, pip install ./clients/python
  python3-venv python3-pip
  # test tools: process control, namespaces and packet filters for chaos runs
  procps iproute2 nftables
  # the RESP port: redis-cli and redis-benchmark drive its tests; a
  # redis-server of our own (tools/bench/resp) is the benchmark's peer
  redis-tools redis-server
  # the install test: systemd-analyze verifies the installed units
  systemd
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

echo "setup: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root or sudo to install ${missing[*]}" >&2; exit 1; }
  sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
