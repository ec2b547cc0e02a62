#!/usr/bin/env bash
# Configures and builds with Ninja. Extra arguments go to CMake's configure step.
#   DEEPSTACK_TORCH=wheel   (default) against PyPI's LibTorch 2.x, installed by installer/setup-torch.sh
#   DEEPSTACK_TORCH=system  against Debian's libtorch-dev 1.13 (CPU only; the .deb is made from this build)
#   DEEPSTACK_BUILD_DIR     the build folder (default: build)
#   DEEPSTACK_BUILD_TYPE    the build type of a new folder (default RelWithDebInfo); a folder already configured
#                           keeps its own unless this is set
set -euo pipefail
cd "$(dirname "$0")/.."
build="${DEEPSTACK_BUILD_DIR:-build}"
case "${DEEPSTACK_TORCH:-wheel}" in
    wheel) torch=(-DDEEPSTACK_TORCH_DIR="$(installer/setup-torch.sh)") ;;
    system) torch=(-DDEEPSTACK_TORCH_DIR=) ;;
    *) echo "build: DEEPSTACK_TORCH is wheel or system, not '$DEEPSTACK_TORCH'" >&2; exit 2 ;;
esac
build_type=()
if [ -n "${DEEPSTACK_BUILD_TYPE:-}" ]; then
    build_type=(-DCMAKE_BUILD_TYPE="$DEEPSTACK_BUILD_TYPE")
elif [ ! -f "$build/CMakeCache.txt" ]; then
    build_type=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
fi
cmake -S . -B "$build" -G Ninja "${build_type[@]}" "${torch[@]}" "$@" >/dev/null
cmake --build "$build"
