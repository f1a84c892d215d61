#!/usr/bin/env bash
# The DQN family on MinAtar Breakout at 1M frames, as docs/minatar.md ran `minatar-breakout`
# (the 100k-frame ε ramp kept). Resumable: rerun the same command after an interruption and a
# run continues from its checkpoint; a finished run is skipped.
#
#   bash docs/results/dqn-family/run-breakout-1m.sh PRESET SEED [RUNS_DIR [PRECISION]]
#   e.g. PRESET = mdqn-minatar-breakout or iqn-minatar-breakout; DEEPQ=path/to/deepq to choose
#   the binary (default: deepq on the PATH); PRECISION f32 (default) or bf16.
set -euo pipefail
preset=$1
seed=$2
precision=${4:-f32}
suffix=$([ "$precision" = f32 ] || echo "-$precision")
dir=${3:-runs}/$preset$suffix-1m-seed$seed
deepq=${DEEPQ:-deepq}
# A run stopped by Ctrl-C writes its summary too (`"interrupted": true`) and goes on from the
# checkpoint that stop wrote.
if [ -f "$dir/summary.json" ] && ! grep -q '"interrupted": *true' "$dir/summary.json"; then
    echo "$dir: done"
elif [ -f "$dir/checkpoint/trainer.ckpt" ]; then
    exec "$deepq" train --resume "$dir" --quiet
else
    exec "$deepq" train --preset "$preset" --seed "$seed" --total-timesteps 1000000 \
        --set exploration_fraction=0.1 --set "precision=\"$precision\"" --out "$dir" --quiet
fi
