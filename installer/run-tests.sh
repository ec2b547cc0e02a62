#!/usr/bin/env bash
# The README's second command (and CI's): install what is missing, build against the default LibTorch (PyPI's
# wheel), run every test suite headless; then build the CLI against Debian's LibTorch 1.13 (the small CPU-only
# option, with its .deb) and run its suites; then rebuild the torch-free parsers with AddressSanitizer + UBSan
# and run their tests again; then fuzz the parsers for a bounded time (libFuzzer, clang).
set -euo pipefail
cd "$(dirname "$0")/.."
# Each stage's wall time goes to the log (CI's time is judged as a whole; this says where it went).
started=$SECONDS stage_started=$SECONDS
stage_done() {
    echo "run-tests: $1 took $((SECONDS - stage_started)) s (total $((SECONDS - started)) s)"
    stage_started=$SECONDS
}
installer/setup-debian.sh
stage_done "setup"
export QT_QPA_PLATFORM=offscreen

# Release without debug info (which costs more than half of the compile and link time of the LibTorch files),
# at -O2: GCC 12's -O3 warns falsely inside std::string (-Warray-bounds, -Wrestrict), and warnings are errors here.
release=(-DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" -DDEEPSTACK_WARNINGS_AS_ERRORS=ON)
# A real serving engine for the remote engine's tests: llama.cpp's llama-server, built once per machine.
llama_server=$(installer/build-llama-server.sh)
stage_done "llama-server"
DEEPSTACK_BUILD_TYPE=Release installer/build.sh "${release[@]}" -DDEEPSTACK_LLAMA_SERVER="$llama_server"
stage_done "build (LibTorch wheel)"
# Suites side by side where they leave cores idle (each declares what it needs: tests/CMakeLists.txt).
jobs=(-j "$(nproc)")
ctest --test-dir build --output-on-failure "${jobs[@]}"
stage_done "tests (LibTorch wheel)"

DEEPSTACK_BUILD_TYPE=Release DEEPSTACK_TORCH=system DEEPSTACK_BUILD_DIR=build-debian-torch installer/build.sh "${release[@]}"
stage_done "build (Debian's LibTorch 1.13)"
# The slow suites (what training teaches, the demo model's whole card) ran above on the default LibTorch, and the
# torch-free ones are the same code on either; every other suite runs again on 1.13.
ctest --test-dir build-debian-torch --output-on-failure "${jobs[@]}" --label-exclude "slow|torch-free"
stage_done "tests (Debian's LibTorch 1.13)"

cmake -S . -B build-sanitize -G Ninja -DCMAKE_BUILD_TYPE=Debug -DDEEPSTACK_SANITIZE=ON \
      -DDEEPSTACK_WARNINGS_AS_ERRORS=ON >/dev/null
cmake --build build-sanitize
stage_done "build (sanitizers)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-sanitize --output-on-failure "${jobs[@]}"
stage_done "tests (sanitizers)"

# Every parser of untrusted input under libFuzzer (clang, ASan, UBSan): a crash, a hang or an allocation over 1 GB
# fails.
cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDEEPSTACK_FUZZ=ON \
      -DDEEPSTACK_BUILD_TESTS=OFF >/dev/null
cmake --build build-fuzz
stage_done "build (fuzz targets)"
# The same 100 000 inputs from seed 1 on every machine, so that CI judges the code, not the luck of the draw; longer
# random campaigns (tests/fuzz/run.sh build-fuzz SECONDS) find the next bugs, whose inputs become seeds here.
tests/fuzz/run.sh build-fuzz 0 "${DEEPSTACK_FUZZ_RUNS:-100000}"
stage_done "fuzzing"
