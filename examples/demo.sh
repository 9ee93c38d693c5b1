#!/usr/bin/env bash
# The main job, end to end on real data (MNIST, 60k/10k): sample an STTS genome with synaptic
# delays, compile it, train it with the PyTorch backend, evaluate it, run it on Lava as Loihi 2
# would, and cost it layer by layer. About 6 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
SNNC=.venv/bin/snnc
OUT=out/demo
SEED=${SEED:-2}
EPOCHS=${EPOCHS:-2}
LAVA_SAMPLES=${LAVA_SAMPLES:-100}
rm -rf "$OUT"
mkdir -p "$OUT"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. sample a genome: STTS, one 4-node random graph stage, Bernoulli(0.3) synaptic delays"
$SNNC sample stts --preset mnist-small --seed "$SEED" -o "$OUT/mnist.genome" --stats
cat "$OUT/mnist.genome"

step "2. compile it: genome -> spiking dataflow IR -> the lava target's passes (fold BN, drop dropout, ...)"
$SNNC compile "$OUT/mnist.genome" -o "$OUT/untrained.snnir"

step "3. train on MNIST with the PyTorch backend (surrogate gradients, $EPOCHS epochs)"
$SNNC train "$OUT/mnist.genome" --data mnist --epochs "$EPOCHS" --optimizer adamw --lr 0.005 \
    --batch-size 64 --seed 0 --run-dir "$OUT/run"

step "4. evaluate the trained model on the 10,000 MNIST test images"
$SNNC eval "$OUT/run"

step "5. simulate it on Lava as Loihi 2 would run it (deploy-folded), ${LAVA_SAMPLES} test images"
$SNNC lava "$OUT/run" --samples "$LAVA_SAMPLES"

step "6. per-layer energy report as the papers count it (STTS Appendix C; 45 nm: E_MAC 4.6 pJ, E_AC 0.9 pJ), rates on 256 test images"
$SNNC energy "$OUT/run/model.snnir" --data mnist --samples 256 --target paper

printf '\nDone. Everything is in %s/ (genome, run folder with metrics and checkpoint, model.snnir).\n' "$OUT"
