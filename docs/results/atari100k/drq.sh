#!/usr/bin/env bash
# atari100k-drq on 6 games × 2 seeds, beside DrQ(ε)'s published per-game means (issue 25):
#
#   PYTHON=VENV/bin/python bash docs/results/atari100k/drq.sh RUNS_DIR [JOBS | --collect]
#
# Trains with `python -m deepq.atari100k` into RUNS_DIR, which should be outside the
# repository (each unfinished run's checkpoint holds its replay buffer, up to 0.7 GB). bf16,
# JOBS runs at a time (default 1), a checkpoint every 10,000 steps: rerunning the command goes
# on with each unfinished run from its last checkpoint and skips the finished ones, so the
# set can be trained across sessions. Whether it finished or was stopped, it then scores the
# finished runs and copies scores.json, and each finished run's summary.json and config.toml,
# into docs/results/atari100k/atari100k-drq/. With --collect it only does that.
set -uo pipefail
runs=${1:?usage: PYTHON=VENV/bin/python bash docs/results/atari100k/drq.sh RUNS_DIR [JOBS | --collect]}
jobs=${2:-1}
python=${PYTHON:-python3}
cd "$(dirname "$0")/../../.."
games=Boxing,Freeway,Seaquest,MsPacman,Qbert,Pong
common=(--preset atari100k-drq --games "$games" --seeds 0..2 --out "$runs")
if [[ $jobs != --collect ]]; then
    "$python" -m deepq.atari100k "${common[@]}" --jobs "$jobs" \
        --set 'precision="bf16"' --set checkpoint_freq=10000
fi
"$python" -m deepq.atari100k "${common[@]}" --report-only > /dev/null || exit 1
results=docs/results/atari100k/atari100k-drq
mkdir -p "$results"
cp "$runs/scores.json" "$results/scores.json"
for run in "$runs"/*/seed-*; do
    [[ -f $run/summary.json ]] || continue
    dest=$results/$(basename "$(dirname "$run")")-$(basename "$run")
    mkdir -p "$dest"
    cp "$run/summary.json" "$run/config.toml" "$dest/"
done
echo "copied the finished runs' results into $results"
