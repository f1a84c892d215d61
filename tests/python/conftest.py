"""Shared fixtures for the deepq Python package tests.

Run from the repository root after installing the package (``pip install .``)::

    python -m pytest tests/python

The tests that exchange files with the ``deepq`` command use the binary named by
``DEEPQ_BIN``; without it they build the README's one with ``cargo build --release --bin deepq``.
"""

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def deepq_bin() -> Path:
    """The ``deepq`` command-line binary."""
    named = os.environ.get("DEEPQ_BIN")
    if named:
        path = Path(named)
        assert path.is_file(), f"DEEPQ_BIN={named} does not exist"
        return path
    subprocess.run(["cargo", "build", "--locked", "--release", "--bin", "deepq"],
                   cwd=REPO, check=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "release" / "deepq"


def run_cli(binary: Path, *args: str) -> subprocess.CompletedProcess:
    """Runs the deepq command, failing the test with its stderr when it fails."""
    done = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"deepq {' '.join(args)} failed: {done.stderr}"
    return done


def free_port() -> int:
    """A TCP port that nothing on this machine listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


RAY = Path(sys.executable).with_name("ray")


def _ray_start(args, env, log):
    """`ray start --block` in a session of its own, so the node's processes can be ended
    together by their process group."""
    return subprocess.Popen([str(RAY), "start", "--block", "--disable-usage-stats", *args],
                            stdout=log, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)


def _stop(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # whatever of the node is left
    except ProcessLookupError:
        pass
    proc.wait()


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory):
    """A Ray cluster on this machine for the tests that run on one (``deepq.tune``,
    ``deepq.atari100k``): a head and a second node joined by address, one CPU each, with
    token authentication (a fresh token for this cluster only); ended even when a test fails.
    Yields its address and the environment that reaches it."""
    pytest.importorskip("ray")
    base = tmp_path_factory.mktemp("ray")
    temp = Path(f"/tmp/dq-ray-{secrets.token_hex(3)}")  # Ray's socket paths must be short
    env = dict(os.environ, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32))
    port = free_port()
    address = f"127.0.0.1:{port}"
    log = open(base / "ray.log", "w")
    nodes = []
    try:
        nodes.append(_ray_start(["--head", f"--port={port}", "--num-cpus=1",
                                 "--include-dashboard=false", f"--temp-dir={temp}"], env, log))
        _wait_for_nodes(address, env, 1)
        nodes.append(_ray_start([f"--address={address}", "--num-cpus=1"], env, log))
        _wait_for_nodes(address, env, 2)
        yield address, env
    finally:
        for node in reversed(nodes):
            _stop(node)
        log.close()


def _wait_for_nodes(address, env, count, timeout=90):
    probe = ("import ray, sys; ray.init(address=sys.argv[1], logging_level='ERROR'); "
             "print(sum(n['Alive'] for n in ray.nodes()))")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = subprocess.run([sys.executable, "-c", probe, address], capture_output=True,
                              text=True, env=env, timeout=60)
        if done.returncode == 0 and int(done.stdout.strip().splitlines()[-1]) >= count:
            return
        time.sleep(1)
    raise AssertionError(f"the Ray cluster at {address} did not reach {count} nodes")


class Corridor(gym.Env):
    """A tiny deterministic env: walk right along ``length`` cells to the goal (reward 1,
    terminated); action 0 stays, action 1 moves; episodes are truncated after ``max_steps``
    steps. Observations are ``[position / length]``.
    Optionally raises ``error`` on the ``fail_at``-th step of its lifetime, or returns
    observations of the wrong width."""

    metadata = {"render_modes": []}

    def __init__(self, length=5, fail_at=None, error=ZeroDivisionError, obs_width=1,
                 max_steps=50):
        self.length = length
        self.max_steps = max_steps
        self.fail_at = fail_at
        self.error = error
        self.obs_width = obs_width
        self.observation_space = gym.spaces.Box(0.0, 1.0, (1,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.steps_taken = 0
        self.pos = 0

    def _obs(self):
        return np.full(self.obs_width, self.pos / self.length, dtype=np.float32)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.pos = 0
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        self.steps_taken += 1
        if self.fail_at is not None and self.steps_taken == self.fail_at:
            raise self.error("corridor failed on purpose")
        self.pos += int(action)
        self.t += 1
        done = self.pos >= self.length
        return self._obs(), float(done), done, self.t >= self.max_steps and not done, {}


@pytest.fixture
def corridor():
    """A fresh :class:`Corridor`."""
    return Corridor()


def given_env(model):
    """The env a model was given, behind the SB3 ``VecEnv`` that ``get_env()`` returns
    when stable-baselines3 is installed."""
    env = model.get_env()
    return getattr(env, "deepq_source", env)
