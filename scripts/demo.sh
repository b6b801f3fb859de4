#!/usr/bin/env bash
# The demo: installs the system libraries if needed, builds in release mode and runs
# `brevitas train` (quantization-aware training of a 4-bit LeNet on the bundled digits).
# Extra arguments go to `brevitas train`, e.g. `bash scripts/demo.sh --weight-bits 8 --act-bits 8`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
swift run -c release brevitas train "$@"
