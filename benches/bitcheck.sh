#!/usr/bin/env bash
# Bit-identity check for a redesign: trains the same short runs with two `deepq` binaries
# (the one built before the change and the one after) and compares what each run wrote:
# the weights (model.safetensors) and the episode, evaluation and training logs (the
# wall-clock column of episodes.csv left out; checkpoints hold wall time). Exits 1 if any
# run differs.
#
#   bash benches/bitcheck.sh OLD_DEEPQ NEW_DEEPQ [WORK_DIR]
#
# The runs cover every algorithm and network family: DQN with each of Rainbow's parts, the
# DQN family (QR-DQN, IQN, M-DQN, M-IQN), PQN with LayerNorm, tabular Q-learning, and the
# MinAtar conv networks (DQN, PQN's conv LayerNorm, IQN; DQN and PQN in bf16 too, whose bits
# are this CPU's kernel's), and double DQN whose target is copied
# at every step (DrQ(ε)'s set-up, scalar and C51; with two gradient steps per copy).
set -euo pipefail
if [[ $# -lt 2 ]]; then
    echo "usage: bash benches/bitcheck.sh OLD_DEEPQ NEW_DEEPQ [WORK_DIR]" >&2
    exit 2
fi
old=$(realpath "$1")
new=$(realpath "$2")
work=${3:-$(mktemp -d)}
mkdir -p "$work"

# name | deepq train arguments
configs=(
    "default|--preset default --total-timesteps 6000"
    "double-dueling|--preset default --total-timesteps 4000 --set double_q=true --set dueling=true"
    "rainbow|--preset cartpole-rainbow --total-timesteps 4000"
    "per-nstep|--preset default --total-timesteps 4000 --set prioritized_replay=true --set n_steps=3"
    "soft-update|--preset cartpole-soft-update --total-timesteps 4000"
    "vectorized|--preset cartpole-vectorized --total-timesteps 4000"
    "acrobot|--preset acrobot --total-timesteps 3000"
    "qrdqn|--preset qrdqn-cartpole --total-timesteps 4000"
    "iqn|--preset default --total-timesteps 3000 --set algorithm=iqn"
    "mdqn|--preset default --total-timesteps 3000 --set munchausen=true --set double_q=false"
    "miqn|--preset default --total-timesteps 3000 --set algorithm=iqn --set munchausen=true"
    "pqn|--preset pqn-cartpole --total-timesteps 20000"
    "tabular|--preset frozenlake-tabular --total-timesteps 20000"
    "minatar-dqn|--preset minatar-breakout --total-timesteps 1500 --set learning_starts=500"
    "minatar-pqn|--preset pqn-minatar-breakout --total-timesteps 4000"
    "minatar-iqn|--preset iqn-minatar-breakout --total-timesteps 1200 --set learning_starts=500"
    "minatar-drq|--preset minatar-breakout --total-timesteps 1500 --set learning_starts=500 --set double_q=true --set dueling=true --set target_update_interval=1 --set augmentation=random_shift --set n_steps=10"
    "minatar-dqn-bf16|--preset minatar-breakout --total-timesteps 1500 --set learning_starts=500 --set precision=bf16"
    "minatar-pqn-bf16|--preset pqn-minatar-breakout --total-timesteps 4000 --set precision=bf16"
    "double-c51-copied-target|--preset default --total-timesteps 3000 --set double_q=true --set atoms=51 --set v_min=0 --set v_max=100 --set target_update_interval=1 --set gradient_steps=2"
)

# The files of a run that must be identical, with the wall-clock column dropped.
fingerprint() {
    local dir=$1
    for f in model.safetensors eval.csv train.csv; do
        if [[ -f "$dir/$f" ]]; then
            printf '%s %s\n' "$(sha256sum <"$dir/$f" | cut -c1-16)" "$f"
        fi
    done
    printf '%s episodes.csv\n' "$(cut -d, -f1-5 "$dir/episodes.csv" | sha256sum | cut -c1-16)"
}

status=0
for entry in "${configs[@]}"; do
    name=${entry%%|*}
    read -r -a args <<<"${entry#*|}"
    for side in old new; do
        bin=$old
        [[ $side == new ]] && bin=$new
        rm -rf "$work/$name-$side"
        "$bin" train "${args[@]}" --seed 3 --quiet --set eval_freq=1000 \
            --set final_eval_episodes=3 --out "$work/$name-$side" >/dev/null
    done
    if diff <(fingerprint "$work/$name-old") <(fingerprint "$work/$name-new") >/dev/null; then
        echo "same      $name"
    else
        echo "DIFFERENT $name"
        diff <(fingerprint "$work/$name-old") <(fingerprint "$work/$name-new") || true
        status=1
    fi
done
exit $status
