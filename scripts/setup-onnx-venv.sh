#!/usr/bin/env bash
# Creates .venv-onnx in the package root with what the ONNX export tests run on:
# onnx (checker), onnxruntime (QCDQ graphs) and qonnx (QONNX graphs: Quant, BipolarQuant, Trunc).
# Tests/ONNXExportTests finds it there (or use BREVITAS_ONNX_PYTHON=/path/to/python).
#
#   scripts/setup-onnx-venv.sh            # create or update .venv-onnx
#   VENV=/tmp/v scripts/setup-onnx-venv.sh
#
# qonnx 1.0.0 is a pure-Python wheel; with its dependencies (onnxscript, onnx-ir, clize, ...)
# the whole install is about 360 MB and takes about a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv-onnx}"
PYTHON="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet "onnx==1.17.0" onnxruntime "qonnx==1.0.0"
"$VENV/bin/python" Tests/ONNXExportTests/check_onnx.py --capabilities
