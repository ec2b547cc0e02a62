#!/usr/bin/env bash
# Builds the .deb with CPack and checks that it carries both programs, the desktop entry and the icon.
# Usage: check_deb.sh BUILD_DIR
set -euo pipefail
build=$1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
(cd "$build" && cpack -G DEB -B "$out" >/dev/null)
deb=$(ls "$out"/*.deb)
contents=$(dpkg-deb -c "$deb")
for path in ./usr/bin/deepstack-studio ./usr/bin/deepstack-cli ./usr/share/applications/deepstack-studio.desktop \
            ./usr/share/icons/hicolor/scalable/apps/deepstack-studio.svg; do
    grep -q " $path\$" <<<"$contents" || { echo "missing from $(basename "$deb"): $path"; exit 1; }
done
depends=$(dpkg-deb -f "$deb" Depends)
for library in libqt6widgets6 libtorch qt6-image-formats-plugins; do
    grep -q "$library" <<<"$depends" || { echo "Depends lacks $library: $depends"; exit 1; }
done
echo "$(basename "$deb"): both programs, desktop entry and icon; Depends: $depends"
