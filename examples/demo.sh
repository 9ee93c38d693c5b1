#!/usr/bin/env bash
# The main job: compile a TANet-Tiny genome with two 32-node stages (edges and synaptic delays
# written out), fold it for deployment, save the artifact, and summarise it.
set -euo pipefail
cd "$(dirname "$0")/.."
SNNC=.venv/bin/snnc
mkdir -p out
echo "== 1. compile examples/tanet-tiny.genome (deploy passes: drop dropout, fold BN, fold depthwise, fold 1/|T| into thresholds)"
$SNNC compile examples/tanet-tiny.genome -o out/tanet-tiny.snnir --emit none
echo "== 2. summary of the compiled artifact"
$SNNC show out/tanet-tiny.snnir --no-layers
echo "== 3. the folded graph computes what the unfolded one does (reference interpreter, small width)"
.venv/bin/python examples/check_folding.py
