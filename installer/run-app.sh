#!/usr/bin/env bash
# The README's first command: install what is missing, build, start DeepStack Studio on the bundled demo model
# (models/demo/latest) unless the arguments name a --model, with its sample document when there are no arguments.
set -euo pipefail
cd "$(dirname "$0")/.."
installer/setup-debian.sh
installer/build.sh
args=("$@")
case " $* " in
    *" --model "*|*" --model="*) ;;
    *) args=(--model "$PWD/models/demo/latest" "${args[@]}") ;;
esac
# Started with no arguments: the demo model's sample document too, its first page ticked for the first question
# (resources/samples/demo-pages.pdf: held-out pages of each layout the model reads).
if [ $# -eq 0 ]; then args+=("$PWD/resources/samples/demo-pages.pdf"); fi
exec build/app/deepstack-studio "${args[@]}"
