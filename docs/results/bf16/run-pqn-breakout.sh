#!/usr/bin/env bash
# pqn-minatar-breakout's whole 10M steps in one precision, for docs/bf16.md. Resumable: rerun the
# same command after an interruption and the run continues from its checkpoint; a finished run
# is skipped.
#
#   bash docs/results/bf16/run-pqn-breakout.sh SEED PRECISION [RUNS_DIR]
#   PRECISION = f32 or bf16; DEEPQ=path/to/deepq to choose the binary (default: deepq on the PATH).
set -euo pipefail
seed=$1
precision=$2
dir=${3:-runs}/pqn-minatar-breakout-$precision-seed$seed
deepq=${DEEPQ:-deepq}
if [ -f "$dir/summary.json" ]; then
    echo "$dir: done"
elif [ -f "$dir/checkpoint/trainer.ckpt" ]; then
    exec "$deepq" train --resume "$dir" --quiet
else
    exec "$deepq" train --preset pqn-minatar-breakout --seed "$seed" \
        --set "precision=\"$precision\"" --out "$dir" --quiet
fi
