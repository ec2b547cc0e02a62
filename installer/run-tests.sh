#!/usr/bin/env bash
# The README's second command (and CI's): install what is missing, build, run every test suite headless, then
# rebuild the torch-free parsers with AddressSanitizer + UBSan and run their tests again.
set -euo pipefail
cd "$(dirname "$0")/.."
installer/setup-debian.sh
installer/build.sh -DDEEPSTACK_WARNINGS_AS_ERRORS=ON
export QT_QPA_PLATFORM=offscreen
ctest --test-dir build --output-on-failure

cmake -S . -B build-sanitize -G Ninja -DCMAKE_BUILD_TYPE=Debug -DDEEPSTACK_SANITIZE=ON \
      -DDEEPSTACK_WARNINGS_AS_ERRORS=ON >/dev/null
cmake --build build-sanitize
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-sanitize --output-on-failure
