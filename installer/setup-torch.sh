#!/usr/bin/env bash
# Installs LibTorch the way the product builds by default: PyPI's torch wheel (MKL and oneDNN kernels,
# scaled_dot_product_attention, CUDA) in a Python environment of its own, never the system Python's. Prints the
# wheel's torch package folder (what CMake's DEEPSTACK_TORCH_DIR takes). Does nothing when it is already there.
# Usage: installer/setup-torch.sh
#   DEEPSTACK_TORCH_HOME     where (default: ~/.local/share/deepstack-studio/libtorch-VERSION)
#   DEEPSTACK_TORCH_VERSION  which torch (default: the version the project is tested with)
set -euo pipefail
version="${DEEPSTACK_TORCH_VERSION:-2.15.0}"
home="${DEEPSTACK_TORCH_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/deepstack-studio/libtorch-$version}"
done_marker="$home/.installed"

torch_folder() { "$home/bin/python" -c 'import os, importlib.util; print(os.path.dirname(importlib.util.find_spec("torch").origin))'; }

if [ -f "$done_marker" ] && [ "$(cat "$done_marker")" = "$version" ]; then
    torch_folder
    exit 0
fi

# The wheel and the CUDA libraries it depends on take about 6 GB.
mkdir -p "$(dirname "$home")"
free_kib=$(df -Pk "$(dirname "$home")" | awk 'NR == 2 { print $4 }')
if [ "$free_kib" -lt $((7 * 1024 * 1024)) ]; then
    echo "setup-torch: LibTorch $version needs about 7 GB free in $(dirname "$home"), only $((free_kib / 1024)) MB are;" \
         "free some space or set DEEPSTACK_TORCH_HOME to another disk" >&2
    exit 1
fi
echo "setup-torch: installing torch $version from PyPI into $home (about 6 GB, once)" >&2
rm -rf "$home"
python3 -m venv "$home" >&2
"$home/bin/python" -m pip install --quiet --no-cache-dir --disable-pip-version-check "torch==$version" >&2
echo "$version" > "$done_marker"
torch_folder
