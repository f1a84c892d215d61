"""``python -m deepq train|eval|play``: the ``deepq`` command's training, evaluation and GIFs for
environments that live in Python. That is Atari through ale-py, which the Rust command cannot
run (see ``deepq.atari``), and any Gymnasium id. Run directories are the ``deepq`` command's:
``config.toml``, the CSV logs, ``model.safetensors``, ``summary.json`` and the plots, so
``deepq plot`` and ``deepq aggregate`` read them. Rerunning ``train`` with the same ``--out``
skips the seeds already finished and resumes an unfinished one from its last checkpoint
(``checkpoint_freq``), on fresh episodes, since no checkpoint can hold a Python env::

    python -m deepq train --preset atari-dqn --env ALE/Pong-v5 --num-envs 8 --seeds 0..3 --out runs/pong
    python -m deepq eval --run runs/pong/seed-0 --episodes 10
    python -m deepq play --run runs/pong/seed-0 --out pong.gif
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Optional

from deepq import _native
from deepq._callbacks import ProgressReporter
from deepq._envs import _is_atari, resolve_env


def _toml_value(text: str) -> Any:
    """A ``--set`` value as TOML reads it (``1e-3``, ``true``, ``[64, 64]``, ``"bf16"``); a
    bare word that is not TOML is taken as a string."""
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        import tomli as tomllib
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


def _parse_seeds(spec: str) -> list:
    """``A..B`` (B excluded) or a comma-separated list, as ``deepq train --seeds`` reads it."""
    try:
        if ".." in spec:
            start, end = spec.split("..", 1)
            seeds = list(range(int(start), int(end)))
        else:
            seeds = [int(s) for s in spec.split(",")]
    except ValueError:
        seeds = []
    if not seeds or min(seeds) < 0:
        raise SystemExit(f"error: invalid value '{spec}' for '--seeds': expected a range A..B "
                         f"(B excluded, B > A) or a list like 1,2,3")
    return seeds


def _make_env(env_id: str, env_kwargs: dict, num_envs: Optional[int], cnn: bool):
    """The handle of ``env_id``: ``num_envs`` copies of an Atari game on one ale-py vector
    env, or the id as ``deepq.DQN`` resolves it."""
    if _is_atari(env_id):
        from deepq import atari

        return resolve_env(atari.make_vec(env_id, num_envs or 1, **env_kwargs), cnn=cnn)
    if num_envs is not None:
        raise SystemExit("error: --num-envs is for Atari ids; set n_envs with --set n_envs=N")
    return resolve_env(env_id, env_kwargs, cnn)


def checkpoint_of(run: Path) -> Path:
    """The checkpoint file of a run directory, as ``deepq train`` writes it."""
    return run / "checkpoint" / "trainer.ckpt"


def train(args: argparse.Namespace) -> None:
    config = _native.Config(args.preset)
    overrides = {}
    if args.config is not None:
        try:
            import tomllib
        except ImportError:
            import tomli as tomllib
        overrides.update(tomllib.loads(Path(args.config).read_text()))
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"error: invalid value '{item}' for '--set': expected KEY=VALUE")
        overrides[key.strip()] = _toml_value(value.strip())
    if args.env is not None:
        overrides["env"] = args.env
    if args.total_timesteps is not None:
        overrides["total_timesteps"] = args.total_timesteps
    config.update(overrides)
    env_kwargs = dict(config.get("env_kwargs") or {})
    handle = _make_env(config.get("env"), env_kwargs, args.num_envs, bool(config.get("cnn")))
    if handle.num_envs is not None:
        config.update({"n_envs": handle.num_envs})
    config.update({"env": handle.id})
    if args.seeds is not None:
        seeds, several = _parse_seeds(args.seeds), True
    else:
        seeds, several = [config.get("seed") if args.seed is None else args.seed], False
    env_name = handle.id.replace("/", "-")
    out = Path(args.out or f"runs/{env_name}-{args.preset}")
    dirs = []
    for seed in seeds:
        run = out / f"seed-{seed}" if several else out
        dirs.append(run)
        if (run / "summary.json").exists():
            print(f"{run}: finished already")
            continue
        config.update({"seed": seed})
        reporter = None if args.quiet else ProgressReporter(1, False, 10)
        if checkpoint_of(run).exists():
            print(f"{run}: resuming from its last checkpoint")
            try:
                summary = _native.resume_run(config, str(run), args.preset, reporter,
                                             env=handle.gym)
            except RuntimeError as e:
                raise SystemExit(f"error: cannot resume '{run}': {e}; remove it to train "
                                 f"again") from None
        elif run.exists() and any(run.iterdir()):
            raise SystemExit(f"error: '{run}' holds an unfinished run that stopped before its "
                             f"first checkpoint (checkpoint_freq steps); remove it to train again")
        else:
            summary = _native.train_run(config, str(run), args.preset, reporter, env=handle.gym)
        summary = json.loads(summary)
        print(f"{run}: {summary['env_steps']:,} steps, final evaluation "
              f"{summary.get('eval_mean', float('nan')):.2f} ± "
              f"{summary.get('eval_std', float('nan')):.2f}")
    if several and len(dirs) > 1:
        _native.aggregate([str(d) for d in dirs], str(out))
        print(f"{out}: aggregate of {len(dirs)} seeds (summary.json, plots)")


def _saved_config(run: str) -> dict:
    """The config keys of a saved run: a run directory or a model archive."""
    from deepq._dqn import _read_run

    return _read_run(run)[0].to_dict()


def evaluate(args: argparse.Namespace) -> None:
    from deepq import DQN, evaluate_policy

    saved = _saved_config(args.run)
    handle = _make_env(saved["env"], dict(saved.get("env_kwargs") or {}), None,
                       bool(saved.get("cnn")))
    model = DQN.load(args.run, env=handle.source)
    returns, lengths = evaluate_policy(model, handle.source, n_eval_episodes=args.episodes,
                                       return_episode_rewards=True, seed=args.seed)
    mean = sum(returns) / len(returns)
    print(f"{args.run}: {len(returns)} episodes, mean return {mean:.2f} "
          f"(min {min(returns):.2f}, max {max(returns):.2f}), mean length "
          f"{sum(lengths) / len(lengths):.1f}")


def _rendering_env(env_id: str, env_kwargs: dict):
    """A Gymnasium env of ``env_id`` that renders RGB frames and gives the observations the
    run trained on: for an Atari game, the standard stack of :func:`deepq.atari.make_vec`
    (84×84 grayscale, 4 frames per action max-pooled, 4 stacked, up to 30 no-op starts)
    built from Gymnasium's wrappers, whose frames are the game's own."""
    import gymnasium

    if _is_atari(env_id):
        from deepq import atari

        atari._ale()
        try:
            import cv2  # noqa: F401  (AtariPreprocessing resizes with it)
        except ImportError:
            raise ImportError("playing an Atari run needs OpenCV for Gymnasium's "
                              f"AtariPreprocessing: {atari.INSTALL}") from None
        env = gymnasium.make(atari.resolve_id(env_id), render_mode="rgb_array", frameskip=1,
                             **env_kwargs)
        env = gymnasium.wrappers.AtariPreprocessing(env, noop_max=30, frame_skip=4,
                                                    screen_size=84, grayscale_obs=True)
        return gymnasium.wrappers.FrameStackObservation(env, 4)
    from deepq import _native

    if _native.is_builtin(env_id):
        from deepq import envs

        return envs.make(env_id, render_mode="rgb_array", **env_kwargs)
    return gymnasium.make(env_id, render_mode="rgb_array", **env_kwargs)


def play(args: argparse.Namespace) -> None:
    from deepq import DQN

    saved = _saved_config(args.run)
    env = _rendering_env(saved["env"], dict(saved.get("env_kwargs") or {}))
    model = DQN.load(args.run, env=env)
    gif = _native.GifWriter(args.out, args.fps)
    max_steps = args.max_steps or model.config["eval_max_episode_steps"]
    obs, _ = env.reset(seed=args.seed)
    # The games that wait for FIRE get it at every reset, as AtariVectorEnv gives it.
    meanings = getattr(env.unwrapped, "get_action_meanings", lambda: [])()
    if _is_atari(saved["env"]) and "FIRE" in meanings:
        obs, *_ = env.step(meanings.index("FIRE"))
    gif.add(env.render())
    total, steps, how = 0.0, 0, f"cut at --max-steps {max_steps}"
    while steps < max_steps:
        action, _ = model.predict(obs, deterministic=True)
        obs, reward, terminated, truncated, _ = env.step(action)
        total += float(reward)
        steps += 1
        gif.add(env.render())
        if terminated or truncated:
            how = "terminated" if terminated else "truncated (the time limit)"
            break
    frames = gif.finish()
    env.close()
    print(f"{saved['env']}: episode ended after {steps} steps with return {total:.2f}: {how}")
    print(f"wrote {args.out} ({frames} frames)")


def main(argv: Optional[list] = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m deepq", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    t = commands.add_parser("train", help="train into a run directory")
    t.add_argument("--preset", default="default", help="preset to start from (deepq.presets())")
    t.add_argument("--env", help="environment id, e.g. ALE/Pong-v5 (default: the preset's)")
    t.add_argument("--config", metavar="FILE.toml", help="config keys applied over the preset")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config key with a TOML value (repeatable)")
    t.add_argument("--seed", type=int, help="seed of the run")
    t.add_argument("--seeds", metavar="A..B|LIST",
                   help="several seeds, one after the other, into OUT/seed-<n>")
    t.add_argument("--total-timesteps", type=int, metavar="N", help="environment-step budget")
    t.add_argument("--num-envs", type=int, metavar="N",
                   help="copies of an Atari game on one ale-py vector env (default 1)")
    t.add_argument("--out", metavar="DIR",
                   help="run directory (default: runs/<env>-<preset>)")
    t.add_argument("--quiet", action="store_true", help="no progress lines")
    e = commands.add_parser("eval", help="evaluate a run directory's greedy policy")
    e.add_argument("--run", required=True, metavar="DIR")
    e.add_argument("--episodes", type=int, default=10, metavar="N")
    e.add_argument("--seed", type=int, help="seed of the first reset")
    p = commands.add_parser("play", help="play one greedy episode of a run into a GIF")
    p.add_argument("--run", required=True, metavar="DIR")
    p.add_argument("--out", required=True, metavar="FILE.gif")
    p.add_argument("--seed", type=int, default=0, help="seed of the reset (default 0)")
    p.add_argument("--fps", type=int, default=30, help="frames per second of the GIF")
    p.add_argument("--max-steps", type=int, metavar="N",
                   help="cut the episode here (default: the run's eval_max_episode_steps)")
    args = parser.parse_args(argv)
    try:
        {"train": train, "eval": evaluate, "play": play}[args.command](args)
    except (ValueError, TypeError, ImportError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
