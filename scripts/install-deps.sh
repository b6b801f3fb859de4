#!/usr/bin/env bash
# Installs the system libraries the package links: OpenBLAS (GEMM) and zlib (the bundled
# gzip-compressed digits data set). Debian/Ubuntu via apt; macOS needs nothing (Accelerate, zlib).
set -euo pipefail
if [ "$(uname)" = "Darwin" ]; then exit 0; fi
if pkg-config --exists openblas zlib 2>/dev/null; then exit 0; fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq libopenblas-dev zlib1g-dev pkg-config >/dev/null
