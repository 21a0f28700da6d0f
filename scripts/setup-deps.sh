#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs exactly what qkv's build needs, with apt-get. Idempotent: packages
# already present are skipped, and `apt-get update` runs only when something
# is missing. Fails loudly, naming the package, when one cannot be installed.
#
# usage: setup-deps.sh [core] [bench] [cross] [fuzz] [plot] [valgrind] [torch] [docs] [abi] [package]
#   core (default): cmake g++ libxsimd-dev catch2 libbenchmark-dev qemu-user pkg-config
#           fortunes (the English text examples/train_gpt.c trains on)
#   bench:  libopenblas-dev, libdnnl-dev (comparison baselines for benchmarks only)
#   cross:  aarch64 / armhf / i686 cross g++, arm-none-eabi, qemu-user, qemu-system-arm
#   fuzz:   clang (libFuzzer)
#   plot:   gnuplot (bench/plot script)
#   valgrind: valgrind
#   torch:  python3-torch, libjemalloc2 (bench/compare_torch.sh; Debian's /usr/bin/python3)
#   docs:   doxygen (the API reference: the `docs` target, stage docs)
#   abi:    abigail-tools (abidw, abidiff: the abi stage and scripts/update-abi.sh)
#   package: dpkg-dev, file (cpack -G DEB computes the runtime's Depends with dpkg-shlibdeps)
set -euo pipefail

groups=("$@")
[ ${#groups[@]} -eq 0 ] && groups=(core)

pkgs=()
for g in "${groups[@]}"; do
  case "$g" in
    core) pkgs+=(cmake g++ make pkg-config libxsimd-dev catch2 libbenchmark-dev qemu-user fortunes) ;;
    bench) pkgs+=(libopenblas-dev libdnnl-dev) ;;
    cross) pkgs+=(qemu-user qemu-system-arm g++-aarch64-linux-gnu g++-arm-linux-gnueabihf
                  g++-i686-linux-gnu gcc-arm-none-eabi binutils-arm-none-eabi
                  libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib) ;;
    fuzz) pkgs+=(clang libclang-rt-14-dev) ;;
    plot) pkgs+=(gnuplot-nox) ;;
    valgrind) pkgs+=(valgrind) ;;
    torch) pkgs+=(python3-torch libjemalloc2) ;;
    docs) pkgs+=(doxygen) ;;
    abi) pkgs+=(abigail-tools) ;;
    package) pkgs+=(dpkg-dev file) ;;
    *) echo "setup-deps: unknown group '$g'" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-deps: all present (${groups[*]})"
  exit 0
fi

echo "setup-deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "setup-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
if ! $sudo apt-get update -qq; then
  echo "setup-deps: ERROR: apt-get update failed" >&2
  exit 1
fi
if ! $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/qkv-setup-deps.log 2>&1; then
  tail -n 20 /tmp/qkv-setup-deps.log >&2
  for p in "${missing[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
      echo "setup-deps: ERROR: could not install package '$p'" >&2
  done
  exit 1
fi
echo "setup-deps: done"
