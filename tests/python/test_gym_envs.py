"""deepq's Rust environments behind Gymnasium's interfaces (``deepq.envs``): the peers' own
checkers on every built-in id, spaces equal to Gymnasium's, the vector env step for step
against single envs in every autoreset mode, CartPole against Gymnasium's own trajectories,
Stable-Baselines3's DQN on both CartPoles, and the errors for bad input."""

import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

import deepq
import deepq.envs

#: Every built-in id.
IDS = deepq.env_ids()


def gymnasium_reference(env_id):
    """Gymnasium's (or the ``minatar`` package's) env of ``env_id``, to compare with; a skip
    when it cannot be made (LunarLander needs Box2D, MinAtar the ``minatar`` package)."""
    if env_id.startswith("MinAtar/"):
        minatar_gym = pytest.importorskip("minatar.gym")
        if env_id not in gym.registry:
            minatar_gym.register_envs()
    try:
        return gym.make(env_id)
    except gym.error.DependencyNotInstalled as missing:
        pytest.skip(f"{env_id}: {missing}")


@pytest.mark.parametrize("env_id", IDS)
def test_gymnasium_check_env_passes(env_id):
    from gymnasium.utils.env_checker import check_env

    check_env(deepq.envs.make(env_id), skip_render_check=False)
    check_env(gym.make(deepq.envs.gymnasium_id(env_id)).unwrapped)


@pytest.mark.parametrize("env_id", IDS)
def test_sb3_check_env_passes(env_id):
    env_checker = pytest.importorskip("stable_baselines3.common.env_checker")
    env_checker.check_env(deepq.envs.make(env_id), warn=False)


@pytest.mark.parametrize("env_id", IDS)
def test_spaces_and_spec_are_gymnasiums(env_id):
    ours = deepq.envs.make(env_id)
    theirs = gymnasium_reference(env_id)
    assert ours.observation_space == theirs.observation_space
    assert ours.observation_space.dtype == theirs.observation_space.dtype
    if isinstance(theirs.observation_space, gym.spaces.Box):
        assert np.array_equal(ours.observation_space.low, theirs.observation_space.low)
        assert np.array_equal(ours.observation_space.high, theirs.observation_space.high)
    assert ours.action_space == theirs.action_space
    obs, _ = ours.reset(seed=3)
    assert type(obs) is type(theirs.reset(seed=3)[0])
    assert obs in theirs.observation_space
    assert ours.spec.id == deepq.envs.gymnasium_id(env_id)
    if not env_id.startswith("CliffWalking"):  # Gymnasium has no limit there; deepq has 200
        assert ours.spec.max_episode_steps == theirs.spec.max_episode_steps
        assert ours.spec.reward_threshold == theirs.spec.reward_threshold


def test_ids_are_registered_with_gymnasium_and_make_vec_gives_the_rust_vector_env():
    env = gym.make("deepq/CartPole-v1")
    assert isinstance(env.unwrapped, deepq.envs.DeepqEnv)
    assert env.spec.max_episode_steps == 500 and env.spec.reward_threshold == 475.0
    # Gymnasium's TimeLimit (with the caller's limit) replaces deepq's.
    long = gym.make("deepq/CartPole-v1", max_episode_steps=3)
    long.reset(seed=0)
    assert [long.step(0)[3] for _ in range(3)] == [False, False, True]
    vec = gym.make_vec("deepq/MinAtar-Breakout-v1", num_envs=3)
    assert isinstance(vec, deepq.envs.DeepqVectorEnv)
    assert vec.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    assert vec.observation_space.shape == (3, 10, 10, 4)
    assert vec.observation_space.dtype == np.bool_
    same = gym.make_vec("deepq/CartPole-v1", num_envs=2, autoreset_mode=AutoresetMode.SAME_STEP)
    assert same.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP


def test_deepq_can_be_imported_without_gymnasium_being_imported():
    code = ("import sys, deepq; assert 'gymnasium' not in sys.modules; "
            "assert callable(deepq.envs.make) and 'gymnasium' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_gymnasium_makes_deepq_ids_without_deepq_being_imported_first():
    code = ("import gymnasium as gym; env = gym.make('deepq.envs:deepq/CartPole-v1'); "
            "assert type(env.unwrapped).__name__ == 'DeepqEnv'; env.reset(seed=0)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_deepq_envs_without_gymnasium_says_how_to_install_it():
    code = ("import sys; sys.modules['gymnasium'] = None; import deepq\n"
            "try:\n    import deepq.envs\nexcept ImportError as e:\n"
            "    assert \"pip install 'deepq[gymnasium]'\" in str(e), e\n"
            "else:\n    raise AssertionError('no ImportError')")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_copies_continue_exactly_like_the_original():
    import copy

    env = deepq.envs.make("FrozenLake-v1")
    env.reset(seed=4)
    twin = copy.deepcopy(env)
    actions = np.random.default_rng(0).integers(0, 4, size=200)
    for a in actions:
        ours, theirs = env.step(a), twin.step(a)
        assert ours == theirs
        if ours[2] or ours[3]:
            assert env.reset() == twin.reset()


def test_rendering_gives_frames_and_text():
    env = deepq.envs.make("CartPole-v1", render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (400, 600, 3) and frame.dtype == np.uint8
    lake = deepq.envs.make("FrozenLake-v1", render_mode="ansi")
    lake.reset(seed=0)
    assert "S" in lake.render()
    vec = deepq.envs.make_vec("MinAtar/Breakout-v1", 2, render_mode="rgb_array")
    vec.reset(seed=0)
    frames = vec.render()
    assert len(frames) == 2 and frames[0].shape == (160, 160, 3)


# ---------------------------------------------------------------------------------------------
# The vector env against single envs
# ---------------------------------------------------------------------------------------------

#: Envs whose episodes end often within a few hundred random steps, by termination and by
#: truncation (short limits), with discrete, box and image observations.
VECTOR_CASES = [
    ("CartPole-v1", {}),
    ("MountainCar-v0", {"max_episode_steps": 30}),
    ("FrozenLake-v1", {}),
    ("Taxi-v4", {"max_episode_steps": 20}),
    ("MinAtar/Breakout-v1", {"max_episode_steps": 60}),
]


def assert_same(a, b):
    """Exact equality of observations (arrays or ints), with their dtypes."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)


@pytest.mark.parametrize("env_id,kwargs", VECTOR_CASES)
@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_vector_env_agrees_with_single_envs_step_for_step(env_id, kwargs, mode):
    n, steps, seed = 4, 300, 11
    vec = deepq.envs.make_vec(env_id, n, autoreset_mode=mode, **kwargs)
    singles = [deepq.envs.make(env_id, **kwargs) for _ in range(n)]
    rng = np.random.default_rng(0)
    obs, infos = vec.reset(seed=seed)
    assert infos == {}
    assert_same(obs, np.stack([np.asarray(e.reset(seed=seed + i)[0]) for i, e in enumerate(singles)]))
    pending = [False] * n
    episodes_ended = 0
    for _ in range(steps):
        actions = rng.integers(0, vec.single_action_space.n, size=n)
        obs, rewards, terminated, truncated, infos = vec.step(actions)
        assert rewards.dtype == np.float64 and terminated.dtype == truncated.dtype == np.bool_
        finals = {}
        for i, env in enumerate(singles):
            if mode == AutoresetMode.NEXT_STEP and pending[i]:
                o, r, te, tr = env.reset()[0], 0.0, False, False
            else:
                o, r, te, tr, _ = env.step(actions[i])
                if mode == AutoresetMode.SAME_STEP and (te or tr):
                    finals[i] = o
                    o = env.reset()[0]
            pending[i] = te or tr
            assert_same(obs[i], o)
            assert (rewards[i], terminated[i], truncated[i]) == (r, te, tr)
        episodes_ended += len(finals) + (sum(pending) if mode == AutoresetMode.NEXT_STEP else 0)
        if mode == AutoresetMode.SAME_STEP and finals:
            mask = np.zeros(n, dtype=bool)
            mask[list(finals)] = True
            assert set(infos) == {"final_obs", "_final_obs", "final_info", "_final_info"}
            assert np.array_equal(infos["_final_obs"], mask)
            assert np.array_equal(infos["_final_info"], mask)
            assert infos["final_obs"].dtype == object and infos["final_info"] == {}
            for i in range(n):
                if i in finals:
                    assert_same(infos["final_obs"][i], finals[i])
                else:
                    assert infos["final_obs"][i] is None
        else:
            assert infos == {}
    assert episodes_ended >= n, "the run should end several episodes"


def test_vector_env_matches_gymnasiums_sync_vector_env_semantics():
    """The same copies under Gymnasium's SyncVectorEnv (with deepq's single envs) give the
    same arrays and infos in both autoreset modes."""
    for mode in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
        ours = deepq.envs.make_vec("CartPole-v1", 3, autoreset_mode=mode)
        sync = gym.vector.SyncVectorEnv([lambda: deepq.envs.make("CartPole-v1")] * 3,
                                        autoreset_mode=mode)
        assert ours.metadata["autoreset_mode"] == sync.metadata["autoreset_mode"]
        assert ours.observation_space == sync.observation_space
        assert ours.action_space == sync.action_space
        rng = np.random.default_rng(1)
        a, b = ours.reset(seed=[5, None, 7]), sync.reset(seed=[5, None, 7])
        assert_same(a[0], b[0])
        for _ in range(120):
            actions = rng.integers(0, 2, size=3)
            a, b = ours.step(actions), sync.step(actions)
            for x, y in zip(a[:4], b[:4]):
                assert_same(x, y)
            assert set(a[4]) == set(b[4])
            for key in a[4]:
                if key == "final_obs":
                    for x, y in zip(a[4][key], b[4][key]):
                        assert (x is None and y is None) or np.array_equal(x, y)
                elif key != "final_info":
                    assert np.array_equal(a[4][key], b[4][key])


def test_disabled_autoreset_resets_the_masked_copies_only():
    vec = deepq.envs.make_vec("CartPole-v1", 3, autoreset_mode=AutoresetMode.DISABLED)
    first, _ = vec.reset(seed=0)
    single = deepq.envs.make("CartPole-v1")
    single.reset(seed=1)
    for _ in range(4):
        after, *_ = vec.step(np.array([1, 1, 1]))
        single.step(1)
    obs, _ = vec.reset(options={"reset_mask": np.array([False, True, False])})
    assert_same(obs[[0, 2]], after[[0, 2]])
    assert_same(obs[1], single.reset()[0])


# ---------------------------------------------------------------------------------------------
# Gymnasium's own CartPole, from its start states
# ---------------------------------------------------------------------------------------------

def balancing(obs):
    """A simple controller that keeps the pole up for hundreds of steps."""
    return int(obs[2] + 0.5 * obs[3] > 0)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_cartpole_reproduces_gymnasiums_trajectories_from_its_start_states(seed):
    theirs = gym.make("CartPole-v1")
    ours = gym.make("deepq/CartPole-v1")
    rng = np.random.default_rng(seed)
    expected, _ = theirs.reset(seed=seed)
    obs, _ = ours.reset(options={"state": theirs.unwrapped.state})
    assert_same(obs, expected)
    # Seed 0 and 1: random actions; 2 and 3: a controller, which reaches the time limit.
    policy = (lambda o: int(rng.integers(2))) if seed < 2 else balancing
    steps = 0
    while True:
        action = policy(expected)
        expected, r_gym, te_gym, tr_gym, _ = theirs.step(action)
        obs, reward, terminated, truncated, _ = ours.step(action)
        steps += 1
        assert_same(obs, expected)
        assert (reward, terminated, truncated) == (r_gym, te_gym, tr_gym)
        if terminated or truncated:
            break
    if seed >= 2:
        assert steps == 500 and truncated


# ---------------------------------------------------------------------------------------------
# Stable-Baselines3's DQN on both CartPoles
# ---------------------------------------------------------------------------------------------

class GymnasiumStarts(gym.Wrapper):
    """deepq's CartPole started, on every reset, from the state Gymnasium's CartPole starts
    from (with the same seed, continuing Gymnasium's random stream as it would)."""

    def __init__(self, env):
        super().__init__(env)
        self.gymnasium = gym.make("CartPole-v1").unwrapped

    def reset(self, *, seed=None, options=None):
        self.gymnasium.reset(seed=seed)
        return self.env.reset(options={"state": self.gymnasium.state})


def sb3_dqn_run(env, steps, **hyperparameters):
    """A seeded SB3 DQN run on ``env``: its parameters and episode returns."""
    torch = pytest.importorskip("torch")
    sb3 = pytest.importorskip("stable_baselines3")
    torch.set_num_threads(1)
    model = sb3.DQN("MlpPolicy", env, seed=0, device="cpu", **hyperparameters)
    model.learn(steps)
    params = {k: v.detach().clone() for k, v in model.policy.state_dict().items()}
    returns = [info["r"] for info in model.ep_info_buffer]
    return params, returns


def test_sb3_dqn_trains_bit_identically_on_deepq_and_gymnasium_cartpole():
    torch = pytest.importorskip("torch")
    settings = dict(learning_starts=500, train_freq=4, target_update_interval=250,
                    exploration_fraction=0.5, policy_kwargs=dict(net_arch=[32, 32]))
    ours = sb3_dqn_run(GymnasiumStarts(gym.make("deepq/CartPole-v1")), 4000, **settings)
    theirs = sb3_dqn_run(gym.make("CartPole-v1"), 4000, **settings)
    assert len(ours[1]) > 50 and ours[1] == theirs[1]
    assert ours[0].keys() == theirs[0].keys()
    for key in ours[0]:
        assert torch.equal(ours[0][key], theirs[0][key]), key


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------

def test_unknown_ids_and_bad_kwargs_raise_the_registrys_messages():
    with pytest.raises(ValueError, match=r"unknown environment id 'CartPole-v9'; available: "):
        deepq.envs.make("CartPole-v9")
    with pytest.raises(ValueError, match="unknown environment id"):
        deepq.envs.make_vec("Pong-v5", 2)
    with pytest.raises(ValueError, match="has no kwarg 'gravity'"):
        deepq.envs.make("CartPole-v1", gravity=3.0)
    with pytest.raises(ValueError, match="invalid render_mode 'human'"):
        deepq.envs.make("CartPole-v1", render_mode="human")


def test_num_envs_and_autoreset_mode_are_checked():
    with pytest.raises(ValueError, match="invalid num_envs 0; expected at least 1"):
        deepq.envs.make_vec("CartPole-v1", 0)
    with pytest.raises(ValueError, match="invalid autoreset_mode 'sometimes'"):
        deepq.envs.make_vec("CartPole-v1", 2, autoreset_mode="sometimes")


def test_single_env_actions_are_checked():
    env = deepq.envs.make("CartPole-v1")
    with pytest.raises(gym.error.ResetNeeded):
        env.step(0)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"one integer, got an array of shape \(2,\)"):
        env.step(np.array([0, 1]))
    with pytest.raises(TypeError, match="an action is an integer of Discrete\\(2\\), got 0.5"):
        env.step(0.5)
    with pytest.raises(ValueError, match=r"invalid action 2; valid actions are 0..2"):
        env.step(2)
    assert env.step(np.int64(1))[1] == 1.0 and env.step(np.array(0))[1] == 1.0


def test_vector_env_actions_are_checked():
    vec = deepq.envs.make_vec("CartPole-v1", 4)
    vec.reset(seed=0)
    with pytest.raises(ValueError, match=r"actions must have shape \(4,\), one per copy, "
                                         r"got shape \(3,\)"):
        vec.step(np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match=r"got shape \(4, 1\)"):
        vec.step(np.zeros((4, 1), dtype=np.int64))
    with pytest.raises(TypeError, match="actions must be integers .* dtype float32"):
        vec.step(np.zeros(4, dtype=np.float32))
    with pytest.raises(ValueError, match="invalid action -1 for copy 2"):
        vec.step(np.array([0, 1, -1, 0]))
    # Other integer dtypes, strided arrays and plain lists are accepted.
    assert vec.step(np.ones(4, dtype=np.int32))[0].shape == (4, 4)
    assert vec.step(np.array([0, 0, 1, 1, 0, 0, 1, 1])[::2])[0].shape == (4, 4)
    assert vec.step([0, 1, 0, 1])[0].shape == (4, 4)


def test_states_are_checked():
    env = deepq.envs.make("CartPole-v1")
    with pytest.raises(ValueError, match="a state is 4 finite numbers"):
        env.reset(options={"state": [0.0, 0.0]})
    with pytest.raises(ValueError, match="invalid state 16"):
        deepq.envs.make("FrozenLake-v1").reset(options={"state": [16]})
    with pytest.raises(ValueError, match="cannot be started from a given state"):
        deepq.envs.make("MinAtar/Breakout-v1").reset(options={"state": [0.0]})
    with pytest.raises(ValueError, match="invalid seed -1"):
        env.reset(seed=-1)
