#!/usr/bin/env bash
# The sweeps of docs/sweeps.md, each against its untuned preset on the same seeds, and the
# best configs and the untuned presets again on held-out seeds. Everything runs on one core
# (CPU 1, a one-CPU local Ray instance). The small outputs are copied next to this script.
#   DEEPQ=target/release/deepq PY=venv/bin/python docs/results/sweeps/run.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
DEEPQ="$(realpath "${DEEPQ:-deepq}")"
PY="${PY:-python}"
OUT="${OUT:-/tmp/deepq-sweeps}"
CPU="${CPU:-1}"
mkdir -p "$OUT"

# name, preset, budget override (or none), trials, seeds per trial, held-out seeds
sweep() {
    local name=$1 preset=$2 budget=$3 trials=$4 seeds=$5 heldout=$6
    local set=() flag=()
    if [ "$budget" != none ]; then set=(--set "total_timesteps=$budget"); flag=(--total-timesteps "$budget"); fi
    taskset -c "$CPU" "$DEEPQ" train --quiet --preset "$preset" "${flag[@]}" --seeds "0..$seeds" \
        --jobs 1 --out "$OUT/$name-untuned"
    taskset -c "$CPU" "$PY" -m deepq.tune --preset "$preset" "${set[@]}" \
        --space "$here/$name-space.toml" --trials "$trials" --seeds "$seeds" --num-cpus 1 \
        --out "$OUT/$name"
    taskset -c "$CPU" "$DEEPQ" train --quiet --config "$OUT/$name/best.toml" --seeds "$heldout" \
        --jobs 1 --out "$OUT/$name-best-heldout"
    taskset -c "$CPU" "$DEEPQ" train --quiet --preset "$preset" "${flag[@]}" --seeds "$heldout" \
        --jobs 1 --out "$OUT/$name-untuned-heldout"
    local dest="$here/$name"
    rm -rf "$dest"
    mkdir -p "$dest"
    cp "$OUT/$name/trials.csv" "$OUT/$name/best.toml" "$OUT/$name/sweep.json" \
        "$OUT/$name/plots/objective.png" "$dest/"
    for run in untuned best-heldout untuned-heldout; do
        cp "$OUT/$name-$run/summary.json" "$dest/$run-summary.json"
    done
}

sweep cartpole cartpole-default-v1 12000 60 8 100..108
sweep lunarlander lunarlander-fast none 20 3 100..103
