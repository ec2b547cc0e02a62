#!/usr/bin/env bash
# The README's first command: install what is missing, build, start DeepStack Studio.
set -euo pipefail
cd "$(dirname "$0")/.."
installer/setup-debian.sh
installer/build.sh
exec build/app/deepstack-studio "$@"
