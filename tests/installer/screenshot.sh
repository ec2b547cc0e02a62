#!/usr/bin/env bash
# Starts deepstack-studio under Xvfb with a fresh settings folder and saves a screenshot of its window.
# Usage: screenshot.sh BUILD_DIR OUT.png
set -euo pipefail
build=$1 out=$2
XDG_CONFIG_HOME=$(mktemp -d)
export XDG_CONFIG_HOME
xvfb-run -a -s "-screen 0 1280x860x24" bash -c '
    "$0/app/deepstack-studio" & app=$!
    sleep 3
    import -window root -crop 1200x800+0+0 +repage "$1"
    kill $app; wait $app 2>/dev/null || true
' "$build" "$out"
echo "saved $out"
