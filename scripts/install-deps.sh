#!/usr/bin/env bash
# Installs the system libraries the package links: OpenBLAS (GEMM), zlib (the bundled
# gzip-compressed digits data set) and Open MPI (the Distributed target: headers, libmpi and
# mpirun). Debian/Ubuntu via apt; macOS: Accelerate and zlib come with the system, Open MPI with
# `brew install open-mpi`.
set -euo pipefail
if [ "$(uname)" = "Darwin" ]; then
  if ! pkg-config --exists ompi-c 2>/dev/null && command -v brew >/dev/null; then brew install open-mpi pkg-config; fi
  exit 0
fi
if pkg-config --exists openblas zlib ompi-c 2>/dev/null && command -v mpirun >/dev/null; then exit 0; fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq libopenblas-dev zlib1g-dev libopenmpi-dev openmpi-bin pkg-config >/dev/null
