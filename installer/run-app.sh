#!/usr/bin/env bash
# The README's first command: install what is missing, build, start DeepStack Studio on the bundled demo model
# (models/demo/latest) unless the arguments name a --model.
set -euo pipefail
cd "$(dirname "$0")/.."
installer/setup-debian.sh
installer/build.sh
args=("$@")
case " $* " in
    *" --model "*|*" --model="*) ;;
    *) args=(--model "$PWD/models/demo/latest" "${args[@]}") ;;
esac
exec build/app/deepstack-studio "${args[@]}"
