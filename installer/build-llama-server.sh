#!/usr/bin/env bash
# Builds llama.cpp's llama-server from the source the llama-cpp-python sdist on PyPI vendors, for the tests that
# chat with a real serving engine. The build lives outside the repository ($DEEPSTACK_CACHE, default
# ~/.cache/deepstack-studio/llama.cpp) and is reused: a machine builds it once (about 10 minutes on 2 cores).
# Prints the path of the llama-server binary.
set -euo pipefail
version=${DEEPSTACK_LLAMA_CPP_PYTHON:-0.3.36}
cache=${DEEPSTACK_CACHE:-$HOME/.cache/deepstack-studio}/llama.cpp/$version
binary=$cache/build/bin/llama-server
if [ -x "$binary" ]; then echo "$binary"; exit 0; fi
mkdir -p "$cache"
if [ ! -d "$cache/src" ]; then
    # Debian's python3 has no pip of its own: a throwaway environment brings one.
    python3 -m venv "$cache/venv" >&2
    "$cache/venv/bin/pip" download --quiet --no-deps --no-binary :all: "llama-cpp-python==$version" -d "$cache" >&2
    mkdir -p "$cache/src"
    tar xzf "$cache/llama_cpp_python-$version.tar.gz" -C "$cache/src" --strip-components=3 "llama_cpp_python-$version/vendor/llama.cpp"
fi
cmake -S "$cache/src" -B "$cache/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
      -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON >&2
cmake --build "$cache/build" -j "$(nproc)" --target llama-server >&2
echo "$binary"
