"""Record golden data from real Gymnasium for Taxi-v4, CliffWalking-v1 and LunarLander-v3.

Run (from this folder, in a venv with the versions in README.md):
    python -m venv /tmp/gymenv
    /tmp/gymenv/bin/pip install gymnasium==1.4.0 box2d==2.3.10
    /tmp/gymenv/bin/python gen_golden.py
Writes taxi.json, cliffwalking.json and lunarlander.json next to this script, in the format of
the shared golden files (see README.md here and the shared golden README).
"""
import copy
import json
import math
import os
import sys

import gymnasium as gym
import numpy as np

OUT = os.path.dirname(os.path.abspath(__file__))


def f32(x):
    """Python float holding the exact value of the float32."""
    return float(np.float32(x))


def vec32(a):
    a = np.asarray(a)
    assert a.dtype == np.float32, a.dtype
    return [f32(v) for v in a.ravel()]


def num(x):
    """A reward or probability as JSON: ints stay ints (Gymnasium's tables hold ints)."""
    if isinstance(x, (bool, np.bool_)):
        raise TypeError("bool where a number was expected")
    if isinstance(x, (int, np.integer)):
        return int(x)
    return float(x)


def versions():
    import importlib.metadata as md

    out = {"gymnasium": gym.__version__, "numpy": np.__version__, "python": sys.version.split()[0]}
    try:
        out["box2d"] = md.version("box2d")
    except md.PackageNotFoundError:
        pass
    return out


def spec_info(env_id):
    s = gym.spec(env_id)
    return {"max_episode_steps": s.max_episode_steps, "reward_threshold": s.reward_threshold}


def dump(name, obj):
    path = os.path.join(OUT, name)
    with open(path, "w") as fh:
        json.dump(obj, fh, separators=(",", ":"))
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


def table_of(env_id, make_kwargs):
    """env.unwrapped.P as [state][action] -> list of [prob, next_state, reward, terminated]."""
    env = gym.make(env_id, **make_kwargs)
    u = env.unwrapped
    n_s, n_a = int(env.observation_space.n), int(env.action_space.n)
    P = [[[[num(p), int(s2), num(r), bool(d)] for (p, s2, r, d) in u.P[s][a]] for a in range(n_a)]
         for s in range(n_s)]
    return {
        "env_id": env_id,
        "make_kwargs": make_kwargs,
        "nS": n_s,
        "nA": n_a,
        "initial_state_distrib": [float(p) for p in u.initial_state_distrib],
        "P": P,
    }


def discrete_traj(env_id, seed, policy, policy_desc, make_kwargs=None, max_episode_steps="registered",
                  mask=False):
    """One episode of a discrete-observation env; policy(t, obs, rng) -> action.

    max_episode_steps: "registered" keeps the registration's limit, an int sets it, None means the
    registration has none (CliffWalking-v1) and the episode must end by itself.
    """
    kwargs = dict(make_kwargs or {})
    if max_episode_steps != "registered" and max_episode_steps is not None:
        env = gym.make(env_id, max_episode_steps=max_episode_steps, **kwargs)
    else:
        env = gym.make(env_id, **kwargs)
    obs, info = env.reset(seed=seed)
    rec = {
        "env_id": env_id,
        "make_kwargs": kwargs,
        "max_episode_steps": env.spec.max_episode_steps,
        "reset_seed": seed,
        "policy": policy_desc,
        "initial_obs": int(obs),
        "actions": [], "obs": [], "reward": [], "terminated": [], "truncated": [], "info_prob": [],
    }
    if mask:
        rec["initial_action_mask"] = [int(m) for m in info["action_mask"]]
        rec["info_action_mask"] = []
    rng = np.random.default_rng(10_000 + seed)
    t = 0
    while True:
        a = int(policy(t, obs, rng))
        obs, r, te, tr, info = env.step(a)
        rec["actions"].append(a)
        rec["obs"].append(int(obs))
        rec["reward"].append(num(r))
        rec["terminated"].append(bool(te))
        rec["truncated"].append(bool(tr))
        rec["info_prob"].append(float(info["prob"]))
        if mask:
            rec["info_action_mask"].append([int(m) for m in info["action_mask"]])
        t += 1
        if te or tr:
            break
        assert t < 100_000, "episode does not end"
    rec["length"] = t
    env.close()
    return rec


RANDOM_DESC = ("uniform random: rng = numpy.random.default_rng(10000 + reset_seed); "
               "action_t = rng.integers(0, n_actions) drawn once per step (actions are stored, just replay them)")


def random_policy(n):
    return lambda t, o, rng: rng.integers(0, n)


def greedy_policy(P, n_s, n_a, gamma=0.99, eps_random=0.0):
    """Value iteration on a deterministic table, then greedy (optionally eps-random) actions."""
    v = np.zeros(n_s)
    for _ in range(1000):
        q = np.array([[sum(p * (r + (0.0 if d else gamma * v[s2])) for p, s2, r, d in P[s][a])
                       for a in range(n_a)] for s in range(n_s)])
        v_new = q.max(axis=1)
        if np.max(np.abs(v_new - v)) < 1e-10:
            break
        v = v_new

    def policy(t, obs, rng):
        if eps_random > 0.0 and rng.random() < eps_random:
            return rng.integers(0, n_a)
        return int(np.argmax(q[int(obs)]))

    return policy


def taxi():
    tables = {
        "taxi/dry": table_of("Taxi-v4", {}),
        "taxi/rainy": table_of("Taxi-v4", {"is_rainy": True}),
        "taxi/rainy_p0.6": table_of("Taxi-v4", {"is_rainy": True, "rainy_probability": 0.6}),
    }
    P = gym.make("Taxi-v4").unwrapped.P
    optimal = greedy_policy(P, 500, 6)
    noisy = greedy_policy(P, 500, 6, eps_random=0.3)
    trajs = []
    for seed in range(5):
        trajs.append(discrete_traj("Taxi-v4", seed, optimal, "optimal: greedy on value iteration (gamma 0.99)",
                                   mask=True))
    for seed in range(10, 13):
        trajs.append(discrete_traj("Taxi-v4", seed, noisy,
                                   "optimal, but rng.random() < 0.3 picks rng.integers(0, 6) instead", mask=True))
    for seed in range(20, 23):
        trajs.append(discrete_traj("Taxi-v4", seed, random_policy(6), RANDOM_DESC, mask=True))
    obj = {
        "versions": versions(),
        "specs": {"Taxi-v4": spec_info("Taxi-v4")},
        "actions": {"SOUTH": 0, "NORTH": 1, "EAST": 2, "WEST": 3, "PICKUP": 4, "DROPOFF": 5},
        "state_encoding": "((taxi_row * 5 + taxi_col) * 5 + passenger_location) * 4 + destination",
        "transition_entry": "[prob, next_state, reward, terminated]",
        "tables": tables,
        "dry_trajectories": trajs,
    }
    dump("taxi.json", obj)


CLIFF_DETOUR = [1, 0, 0, 3, 1, 1, 2] + [1] * 9 + [2]


def cliffwalking():
    tables = {
        "cliffwalking/not_slippery": table_of("CliffWalking-v1", {}),
        "cliffwalking/slippery": table_of("CliffWalking-v1", {"is_slippery": True}),
    }
    P = gym.make("CliffWalking-v1").unwrapped.P
    optimal = greedy_policy(P, 48, 4)
    trajs = [
        discrete_traj("CliffWalking-v1", 0, optimal, "optimal: greedy on value iteration (13 steps along the cliff)",
                      max_episode_steps=None),
        discrete_traj("CliffWalking-v1", 1, lambda t, o, r: CLIFF_DETOUR[t],
                      "fixed: RIGHT (cliff, back to start), UP, UP, LEFT (wall), RIGHT, RIGHT, DOWN, RIGHT x9, DOWN",
                      max_episode_steps=None),
        discrete_traj("CliffWalking-v1", 2, lambda t, o, r: 3, "always LEFT: stays at the start until truncation",
                      max_episode_steps=50),
    ]
    for seed in range(10, 13):
        trajs.append(discrete_traj("CliffWalking-v1", seed, random_policy(4), RANDOM_DESC, max_episode_steps=300))
    obj = {
        "versions": versions(),
        # Gymnasium registers CliffWalking-v1 without a time limit and without a reward threshold.
        "registration": {"CliffWalking-v1": spec_info("CliffWalking-v1"),
                         "CliffWalkingSlippery-v1": spec_info("CliffWalkingSlippery-v1")},
        "actions": {"UP": 0, "RIGHT": 1, "DOWN": 2, "LEFT": 3},
        "transition_entry": "[prob, next_state, reward, terminated]",
        "tables": tables,
        "trajectories": trajs,
    }
    dump("cliffwalking.json", obj)


# ---------------------------------------------------------------------------------------------
# LunarLander-v3

def lunar_heuristic(s):
    from gymnasium.envs.box2d.lunar_lander import heuristic

    class _E:
        class unwrapped:
            continuous = False

    return heuristic(_E, s)


def lunar_traj(seed, policy, policy_desc, make_kwargs=None):
    """One episode with every random draw recorded, so a port can replay it.

    initial_state = [height_0..height_11 (the raw U[0, H/2) terrain draws), force_x, force_y,
                     wind_idx, torque_idx (0 without wind), u0, u1 (the dispersion draws of the
                     step that reset() takes)];
    dispersion[t] = the two U[-1, 1) draws of step t.
    The draws are read from a copy of the env's generator taken just before each call and checked
    against the env afterwards.
    """
    make_kwargs = dict(make_kwargs or {})
    env = gym.make("LunarLander-v3", **make_kwargs)
    u = env.unwrapped
    g = np.random.default_rng(seed)  # what Env.reset(seed=seed) builds
    H = 400 / 30.0
    heights = g.uniform(0, H / 2, size=(12,))
    fx = g.uniform(-1000.0, 1000.0)
    fy = g.uniform(-1000.0, 1000.0)
    wind_idx = torque_idx = 0
    if make_kwargs.get("enable_wind", False):
        wind_idx = int(g.integers(-9999, 9999))
        torque_idx = int(g.integers(-9999, 9999))
    u0, u1 = g.uniform(-1.0, 1.0), g.uniform(-1.0, 1.0)
    obs, _ = env.reset(seed=seed)
    assert g.bit_generator.state == u.np_random.bit_generator.state, "reset draws not reproduced"
    rec = {
        "env_id": "LunarLander-v3",
        "make_kwargs": make_kwargs,
        "max_episode_steps": env.spec.max_episode_steps,
        "reset_seed": seed,
        "policy": policy_desc,
        "initial_state": [float(h) for h in heights] + [float(fx), float(fy), wind_idx, torque_idx,
                                                         float(u0), float(u1)],
        "initial_obs": vec32(obs),
        "actions": [], "obs": [], "reward": [], "terminated": [], "truncated": [], "dispersion": [],
    }
    rng = np.random.default_rng(10_000 + seed)
    t = 0
    while True:
        a = int(policy(t, obs, rng))
        peek = copy.deepcopy(u.np_random)
        d = [float(peek.uniform(-1.0, 1.0)), float(peek.uniform(-1.0, 1.0))]
        obs, r, te, tr, _ = env.step(a)
        assert peek.bit_generator.state == u.np_random.bit_generator.state, "step draws not reproduced"
        rec["actions"].append(a)
        rec["obs"].append(vec32(obs))
        rec["reward"].append(float(r))
        rec["terminated"].append(bool(te))
        rec["truncated"].append(bool(tr))
        rec["dispersion"].append(d)
        t += 1
        if te or tr:
            break
    rec["length"] = t
    env.close()
    return rec


def lunar_stats(policy, seeds):
    env = gym.make("LunarLander-v3")
    returns, lengths = [], []
    for seed in seeds:
        obs, _ = env.reset(seed=seed)
        rng = np.random.default_rng(10_000 + seed)
        total, t = 0.0, 0
        while True:
            obs, r, te, tr, _ = env.step(int(policy(t, obs, rng)))
            total += r
            t += 1
            if te or tr:
                break
        returns.append(total)
        lengths.append(t)
    returns = np.array(returns)
    return {
        "episodes": len(returns),
        "seeds": f"{seeds.start}..{seeds.stop}",
        "mean": float(returns.mean()),
        "std": float(returns.std()),
        "share_at_least_200": float((returns >= 200).mean()),
        "mean_length": float(np.mean(lengths)),
        "std_length": float(np.std(lengths)),
    }


def lunarlander():
    heur = lambda t, o, rng: lunar_heuristic(o)
    heur_desc = "gymnasium.envs.box2d.lunar_lander.heuristic on the returned float32 obs"
    trajs = [lunar_traj(s, heur, heur_desc) for s in range(5)]
    trajs += [lunar_traj(s, random_policy(4), RANDOM_DESC) for s in range(10, 15)]
    trajs += [lunar_traj(s, heur, heur_desc, {"enable_wind": True}) for s in (20, 21)]
    trajs += [lunar_traj(30, heur, heur_desc, {"gravity": -5.0, "enable_wind": True, "wind_power": 5.0,
                                               "turbulence_power": 0.5})]
    obj = {
        "versions": versions(),
        "specs": {"LunarLander-v3": spec_info("LunarLander-v3")},
        "actions": {"NOOP": 0, "LEFT_ENGINE": 1, "MAIN_ENGINE": 2, "RIGHT_ENGINE": 3},
        "obs_layout": ["x", "y", "vx", "vy", "angle", "angular_velocity", "left_leg_contact",
                       "right_leg_contact"],
        "state_layout": [f"height_{i}" for i in range(12)] + ["force_x", "force_y", "wind_idx", "torque_idx",
                                                             "dispersion_u0", "dispersion_u1"],
        # Reference figures for the statistical tests: the larger samples give the
        # tests a reference whose own standard error is small.
        "statistics": {
            "heuristic": lunar_stats(heur, range(0, 100)),
            "heuristic_1000": lunar_stats(heur, range(0, 1000)),
            "random": lunar_stats(random_policy(4), range(0, 1000)),
            "random_4000": lunar_stats(random_policy(4), range(0, 4000)),
        },
        "trajectories": trajs,
    }
    dump("lunarlander.json", obj)


if __name__ == "__main__":
    which = sys.argv[1:] or ["taxi", "cliffwalking", "lunarlander"]
    for name in which:
        globals()[name]()
