#!/bin/sh
# Rebuild the toy world's shipped weights from scratch (docs/toy-world.md). About 95 minutes on
# 2 CPU cores; run it on an otherwise idle machine. Fixed step counts, so the result does not
# depend on the machine's speed (only float rounding may differ between machines).
#
#   sh scripts/toy-chain.sh [WORK_DIR]     (default: toy-work/)
set -eu
cd "$(dirname "$0")/.."
work=${1:-toy-work}
ezigen=".venv/bin/ezigen"
mkdir -p "$work"

# 1. the world: 24,000 training samples of 400 subjects (60 more held out), 32 x 32
$ezigen toy data --out "$work/data"
# 2. the base: UNet + text encoder trained together from toy:init (6,500 steps of 64)
$ezigen train toy/pretrain --data "$work/data/train" --out "$work/base-run" --no-progress --resume
$ezigen toy assemble --run "$work/base-run" --out "$work/base"
# 3. EZIGen adapters on the frozen base (2,000 steps of 32)
$ezigen train toy/ezigen --data "$work/data/train" --out "$work/adapter-run" --no-progress --resume \
    --set backbone.pretrained="$work/base" --set fusion.weights=null
# 4. ship them: the package's toy:base and toy:ezigen
#    (copied beside the shipped files first, then renamed over them: a kill never leaves half a model)
rm -rf ezigen/assets/toy/base.new ezigen/assets/toy/base.old
cp -r "$work/base" ezigen/assets/toy/base.new
cp "$work/adapter-run/adapter.safetensors" ezigen/assets/toy/ezigen-adapter.safetensors.new
[ ! -d ezigen/assets/toy/base ] || mv ezigen/assets/toy/base ezigen/assets/toy/base.old
mv ezigen/assets/toy/base.new ezigen/assets/toy/base
mv ezigen/assets/toy/ezigen-adapter.safetensors.new ezigen/assets/toy/ezigen-adapter.safetensors
rm -rf ezigen/assets/toy/base.old
# 5. the table (about 5 minutes)
$ezigen toy table --out "$work/table"
