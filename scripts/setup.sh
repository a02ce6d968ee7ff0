#!/usr/bin/env bash
# Brings a fresh Debian machine (or a stale checkout) to a built tree, doing only what is missing:
# Debian packages, npm dependencies, then the build (eBPF objects, helper, exporters, TypeScript).
#   setup.sh           what building and running need (npm start)
#   setup.sh --test    that and what the tests need (npm test, CI)
set -euo pipefail
cd "$(dirname "$0")/.."

# Build needs, by Debian package name.
PACKAGES=(clang lld llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config make gcc libc6-dev)
# Test needs (prometheus: tests scrape, federate and remote-write against a real one; chromium: the
# flamegraph page is tested in a real browser; tmux: the CLI is tested on a real terminal; openssl:
# the API's TLS listener is tested with a self-signed certificate; python3-prometheus-client:
# OpenMetrics output is checked with the spec's reference parser; qemu, busybox, cpio, the arm64
# cross compiler, xz, zstd, file: the kernel matrix boots Debian's kernels, x86_64 and arm64;
# mmdebstrap, podman, runc, skopeo, docker-registry, qemu-user-static, apache2-utils: the image is
# built from Debian packages, run under podman, pushed through a real registry, its arm64 helper run).
TEST_PACKAGES=(prometheus chromium bpftrace tmux openssl python3-prometheus-client qemu-system-x86 qemu-system-arm busybox-static cpio
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross xz-utils zstd file debian-archive-keyring
  mmdebstrap podman runc skopeo docker-registry qemu-user-static apache2-utils)
# rustc and its wasm32 standard library (Debian 12: 1.63): the Rust exporter SDK is built and run.
TEST_PACKAGES+=(rustc libstd-rust-dev-wasm32)
[ "${1:-}" = --test ] && PACKAGES+=("${TEST_PACKAGES[@]}")

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]}; run as root or: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm ci only when the lockfile changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

# Running needs the helper, exporters and JS; tests add the drift checks and the tests' type check.
if [ "${1:-}" = --test ]; then npm run --silent build; else npm run --silent build:run; fi
