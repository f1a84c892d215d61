#!/usr/bin/env bash
# qrdqn-lunarlander against sb3-contrib's QRDQN (RL Zoo's hyperparameters, 100,000 steps), one
# seed at a time, both sides pinned to one core by benches/peers/run.py:
#
#   bash docs/results/dqn-family/run-qrdqn-lunarlander.sh PEERS_PYTHON DEEPQ CORE SEED...
#
# Each seed writes seed-N.md (run.py's tables) and seed-N.json into
# docs/results/dqn-family/qrdqn-lunarlander-seeds/. A seed with its JSON is skipped and one
# another runner has claimed (seed-N.claim, made atomically) is left to it, so a runner per
# core can share a list of seeds, and an interrupted seed is rerun (remove its claim first).
# Each side's result is kept in sides/ as soon as it has run, so an interrupted seed reruns
# only the side that was under way. About 30 minutes of deepq and 100 of sb3-contrib per seed
# on one core of an AMD EPYC.
set -euo pipefail
if [[ $# -lt 4 ]]; then
    echo "usage: bash docs/results/dqn-family/run-qrdqn-lunarlander.sh PEERS_PYTHON DEEPQ CORE SEED..." >&2
    exit 2
fi
peers=$1 deepq=$(realpath "$2") core=$3
shift 3
cd "$(dirname "$0")/../../.."
out_dir=docs/results/dqn-family/qrdqn-lunarlander-seeds
mkdir -p "$out_dir"
for seed in "$@"; do
    out=$out_dir/seed-$seed
    [[ -f $out.json ]] && continue
    mkdir "$out.claim" 2>/dev/null || continue
    if python3 benches/peers/run.py --peers-python "$peers" --deepq "$deepq" --core "$core" \
        --only qrdqn-lunarlander --seeds "$seed" --keep-sides "$out_dir/sides" \
        --json "$out.json.tmp" >"$out.md" 2>"$out.err"; then
        mv "$out.json.tmp" "$out.json"
        rmdir "$out.claim"
    fi
done
