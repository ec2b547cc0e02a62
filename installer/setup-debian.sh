#!/usr/bin/env bash
# Installs the Debian 12 packages DeepStack Studio builds and runs with. Does nothing when they are all there.
# Usage: installer/setup-debian.sh            (uses sudo when not run as root)
set -euo pipefail

packages=(
    # build
    cmake ninja-build g++ pkg-config git dpkg-dev file ccache
    # the core: PyPI's LibTorch goes into a Python environment of its own (installer/setup-torch.sh); Debian's
    # LibTorch 1.13 (CPU) with a fast BLAS is the small option; OpenCV, PCRE2, JSON, sentencepiece (tests, tools)
    python3 python3-venv libtorch-dev libopenblas0-openmp libopencv-dev libpcre2-dev nlohmann-json3-dev
    libsentencepiece-dev sentencepiece libicu-dev zlib1g-dev
    # downloads from the Hugging Face Hub: HTTPS and the hashes that verify the files
    libcurl4-openssl-dev libssl-dev
    # the app: Qt 6 Widgets and QtPdf, Qt's TIFF and WebP readers; libsecret for the desktop's keyring (the test runs
    # a real GNOME Keyring on a private session bus)
    qt6-base-dev qt6-base-dev-tools qt6-pdf-dev qt6-qpa-plugins qt6-image-formats-plugins libgl-dev libsecret-1-dev
    gnome-keyring dbus-daemon
    # the fuzz targets of the parsers (libFuzzer with ASan and UBSan)
    clang libclang-rt-14-dev
    # headless runs and screenshots
    xvfb xauth imagemagick fonts-dejavu-core
)

missing=()
for package in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)
    [ "$status" = "installed" ] || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "setup: all ${#packages[@]} packages are installed"
    exit 0
fi

echo "setup: installing ${#missing[@]} package(s): ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup: run as root, or install sudo" >&2; exit 1; }
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
