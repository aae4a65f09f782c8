#!/bin/sh
# Real-size measurements on one H100/H200 (fp16; SD2.1-base 512 px, SDXL 1024 px; random weights),
# in under 8 minutes. The device image has torch, transformers, accelerate, ... but not diffusers:
# carry its wheel in .whl/ (see the device tool's README), e.g.
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 -d .whl diffusers==0.42.1
# Usage on the device machine, from the repository root:  sh benchmarks/gpu.sh OUT_DIR
set -eu
out=${1:-${OUT:-benchmarks/results/gpu}}
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONPATH=$(pwd):${PYTHONPATH:-} HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt" 2>/dev/null || true
python3 -m benchmarks --real --device cuda --dtype float16 --quick --out "$out"
