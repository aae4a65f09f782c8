#!/bin/sh
# Rebuild the toy world's shipped weights and its table from scratch (docs/toy-world.md). About
# 80 minutes on 2 CPU cores (times per step in docs/toy-world.md); run it on an otherwise idle
# machine. Fixed step counts, so the result does not depend on the machine's speed (only float
# rounding may differ between machines). Resumable: every training step continues from its last
# checkpoint and the table reuses the images it already made, so after a kill run it again.
#
#   sh scripts/toy-chain.sh [WORK_DIR]     (default: toy-work/)
set -eu
cd "$(dirname "$0")/.."
work=${1:-toy-work}
ezigen=".venv/bin/ezigen"
mkdir -p "$work"
say() { echo "[toy-chain $(date +%H:%M:%S)] $*" >&2; }

# 1. the world (v2): 24,000 training samples of 400 subjects (60 more held out), 32 x 32
say "world"
[ -f "$work/data/world.json" ] || $ezigen toy data --out "$work/data"
# 2. the base: UNet + text encoder trained together from toy:init (4,000 steps of 64, v-prediction)
say "base"
$ezigen train toy/pretrain --data "$work/data/train" --out "$work/base-run" --no-progress --resume
[ -f "$work/base/model_index.json" ] || $ezigen toy assemble --run "$work/base-run" --out "$work/base"
# 3. EZIGen adapters on the frozen base (2,000 steps of 32; every 250-step checkpoint kept for the curve)
say "adapters"
$ezigen train toy/ezigen --data "$work/data/train" --out "$work/adapter-run" --no-progress --resume \
    --set backbone.pretrained="$work/base" --set fusion.weights=null
# 4. the toy stand-ins for CLIP and DINOv2 (their own objectives; shipped as toy:clip / toy:dino by --ship)
say "encoders"
$ezigen toy encoder clip --out "$work/clip" --resume --ship
$ezigen toy encoder dino --out "$work/dino" --resume --ship
# 5. ship the base and the adapters: the package's toy:base and toy:ezigen
#    (copied beside the shipped files first, then renamed over them: a kill never leaves half a model)
say "ship"
rm -rf ezigen/assets/toy/base.new ezigen/assets/toy/base.old
cp -r "$work/base" ezigen/assets/toy/base.new
cp "$work/adapter-run/adapter.safetensors" ezigen/assets/toy/ezigen-adapter.safetensors.new
[ ! -d ezigen/assets/toy/base ] || mv ezigen/assets/toy/base ezigen/assets/toy/base.old
mv ezigen/assets/toy/base.new ezigen/assets/toy/base
mv ezigen/assets/toy/ezigen-adapter.safetensors.new ezigen/assets/toy/ezigen-adapter.safetensors
rm -rf ezigen/assets/toy/base.old
# 6. the table, the claims, the training curve and the editing block (docs/toy-world.md)
say "table"
$ezigen toy table --out "$work/table" --curve ezigen-single-pass="$work/adapter-run"
say "done: $work/table/table.md"
