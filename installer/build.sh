#!/usr/bin/env bash
# Configures and builds (Release with debug info, Ninja). Extra arguments go to CMake's configure step.
#   DEEPSTACK_TORCH=wheel   (default) against PyPI's LibTorch 2.x, installed by installer/setup-torch.sh
#   DEEPSTACK_TORCH=system  against Debian's libtorch-dev 1.13 (CPU only; the .deb is made from this build)
#   DEEPSTACK_BUILD_DIR     the build folder (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
build="${DEEPSTACK_BUILD_DIR:-build}"
case "${DEEPSTACK_TORCH:-wheel}" in
    wheel) torch=(-DDEEPSTACK_TORCH_DIR="$(installer/setup-torch.sh)") ;;
    system) torch=(-DDEEPSTACK_TORCH_DIR=) ;;
    *) echo "build: DEEPSTACK_TORCH is wheel or system, not '$DEEPSTACK_TORCH'" >&2; exit 2 ;;
esac
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "${torch[@]}" "$@" >/dev/null
cmake --build "$build"
