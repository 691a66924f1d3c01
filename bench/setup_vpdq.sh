#!/usr/bin/env bash
# Install the peer of `python -m bench.video`: Meta's `vpdq` Python binding.
#
# Why a script: vpdq ships only as source; pip builds its C++ against the system
# FFmpeg development libraries, which only the OS package manager provides (jikimi
# itself needs none of this: PyAV's wheel carries its own FFmpeg). Debian/Ubuntu only.
#
# Idempotent: does nothing when `import vpdq` already works in the venv, and asks
# apt only for the packages that are missing. Usage: bench/setup_vpdq.sh [PYTHON]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${1:-$ROOT/.venv/bin/python}"

if [ ! -x "$PY" ]; then
    echo "No Python at $PY (create the venv first: make .venv/.installed-dev)" >&2
    exit 1
fi

if "$PY" -c "import vpdq" 2>/dev/null; then
    echo "vpdq is already installed for $PY"
    exit 0
fi

# Build tools and the FFmpeg libraries vpdq's CMake looks for (its apt-requirements.txt,
# without the ffmpeg command-line tool, which it does not use).
PACKAGES=(pkg-config cmake g++ libavcodec-dev libavformat-dev libavdevice-dev
          libavutil-dev libswscale-dev libswresample-dev libavfilter-dev)
if ! "$PY" -c 'import os, sysconfig, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; then
    PACKAGES+=(python3-dev)  # a system Python without its headers
fi

MISSING=()
for package in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        MISSING+=("$package")
    fi
done

if ((${#MISSING[@]})); then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        SUDO="sudo"
    fi
    echo "apt-get install ${MISSING[*]}"
    $SUDO apt-get update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${MISSING[@]}"
fi

"$PY" -m pip install vpdq
"$PY" -c "import vpdq; print('vpdq installed:', vpdq.__file__)"
