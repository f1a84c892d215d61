"""``python -m deepq.atari100k``: the Atari 100k benchmark (Kaiser et al. 2020) as one command.

Trains a preset on games × seeds (100k agent steps each, sticky actions off, as the
``atari100k-*`` presets set it), each run a ``python -m deepq train`` run directory in
``OUT/<game>/seed-<n>``, ``--jobs`` at a time on this machine; then scores them as the field
does: each run's final evaluation (the preset's: 100 whole games at ε 0.001), its
human-normalized score ``(score − random) / (human − random)``, and the aggregates rliable
reports over games and seeds (mean, median, interquartile mean and optimality gap, each with a
stratified-bootstrap 95% confidence interval) with a performance profile::

    python -m deepq.atari100k --preset atari100k-drq --games Pong,Breakout --seeds 0..2 --jobs 2

With ``--address HOST:PORT`` (or ``auto``) the runs go to a Ray cluster instead, one CPU each,
as ``deepq.tune``'s trials do (``pip install "deepq[tune]"``); ``OUT`` must then be on a
filesystem every node sees, and every node needs deepq and ale-py. Rerunning skips the runs
already finished and resumes an unfinished one from its last checkpoint (every
``checkpoint_freq`` steps; one that stopped before its first starts over). ``OUT/scores.json`` holds every figure, ``OUT/performance_profile.png``
the profile. The aggregates need the ``rliable`` package (``pip install "deepq[atari100k]"``);
without it the per-game scores are still written.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import shutil
import subprocess
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional

#: The 26 games of Atari 100k.
GAMES = ("Alien", "Amidar", "Assault", "Asterix", "BankHeist", "BattleZone", "Boxing",
         "Breakout", "ChopperCommand", "CrazyClimber", "DemonAttack", "Freeway", "Frostbite",
         "Gopher", "Hero", "Jamesbond", "Kangaroo", "Krull", "KungFuMaster", "MsPacman",
         "Pong", "PrivateEye", "Qbert", "RoadRunner", "Seaquest", "UpNDown")

#: Scores of the uniformly random policy and of the human tester, the pair every Atari 100k
#: paper (DER, SPR, DrQ(ε), rliable) normalizes with: random from Mnih et al. 2015, human
#: from Wang et al. 2016 ("Dueling Network Architectures").
SCORES_SOURCE = "random: Mnih et al. 2015; human: Wang et al. 2016 (as DER, SPR and rliable use)"
RANDOM = {"Alien": 227.8, "Amidar": 5.8, "Assault": 222.4, "Asterix": 210.0,
          "BankHeist": 14.2, "BattleZone": 2360.0, "Boxing": 0.1, "Breakout": 1.7,
          "ChopperCommand": 811.0, "CrazyClimber": 10780.5, "DemonAttack": 152.1,
          "Freeway": 0.0, "Frostbite": 65.2, "Gopher": 257.6, "Hero": 1027.0,
          "Jamesbond": 29.0, "Kangaroo": 52.0, "Krull": 1598.0, "KungFuMaster": 258.5,
          "MsPacman": 307.3, "Pong": -20.7, "PrivateEye": 24.9, "Qbert": 163.9,
          "RoadRunner": 11.5, "Seaquest": 68.4, "UpNDown": 533.4}
HUMAN = {"Alien": 7127.7, "Amidar": 1719.5, "Assault": 742.0, "Asterix": 8503.3,
         "BankHeist": 753.1, "BattleZone": 37187.5, "Boxing": 12.1, "Breakout": 30.5,
         "ChopperCommand": 7387.8, "CrazyClimber": 35829.4, "DemonAttack": 1971.0,
         "Freeway": 29.6, "Frostbite": 4334.7, "Gopher": 2412.5, "Hero": 30826.4,
         "Jamesbond": 302.8, "Kangaroo": 3035.0, "Krull": 2665.5, "KungFuMaster": 22736.3,
         "MsPacman": 6951.6, "Pong": 14.6, "PrivateEye": 69571.3, "Qbert": 13455.0,
         "RoadRunner": 7845.0, "Seaquest": 42054.7, "UpNDown": 11693.2}


#: Published per-game means of the algorithm a preset reproduces, to set its scores beside:
#: DrQ(ε) (Agarwal et al. 2021), the mean of the 100 runs per game that rliable released
#: (its ``DrQ(eps).json``; normalized as above, they give rliable's median 0.313 and mean
#: 0.465 for DrQ(ε)).
PUBLISHED = {
    "atari100k-drq": ("DrQ(ε), mean of rliable's 100 runs per game (Agarwal et al. 2021)", {
        "Alien": 865.2, "Amidar": 137.8, "Assault": 579.6, "Asterix": 763.6,
        "BankHeist": 232.9, "BattleZone": 10165.3, "Boxing": 9.0, "Breakout": 19.8,
        "ChopperCommand": 844.6, "CrazyClimber": 21539.0, "DemonAttack": 1321.6,
        "Freeway": 20.3, "Frostbite": 1014.2, "Gopher": 621.6, "Hero": 4167.9,
        "Jamesbond": 349.1, "Kangaroo": 1088.4, "Krull": 4402.1, "KungFuMaster": 11467.4,
        "MsPacman": 1218.1, "Pong": -9.1, "PrivateEye": 3.5, "Qbert": 1810.7,
        "RoadRunner": 11211.4, "Seaquest": 352.3, "UpNDown": 4324.5}),
}


def normalized(game: str, score: float) -> float:
    """The human-normalized score of ``score`` on ``game``."""
    return (score - RANDOM[game]) / (HUMAN[game] - RANDOM[game])


def parse_games(spec: str) -> list:
    """``all`` or comma-separated names of the 26 games."""
    if spec == "all":
        return list(GAMES)
    games = [g.strip() for g in spec.split(",") if g.strip()]
    for game in games:
        if game not in GAMES:
            raise ValueError(f"invalid game {game!r} for '--games': Atari 100k has "
                             f"{', '.join(GAMES)} (or all)")
    if not games:
        raise ValueError("invalid value '' for '--games': name at least one game, or all")
    return games


def train_command(preset: str, game: str, seed: int, run: Path, sets: list) -> list:
    """The ``python -m deepq train`` call of one run."""
    cmd = [sys.executable, "-m", "deepq", "train", "--preset", preset, "--env",
           f"ALE/{game}-v5", "--seed", str(seed), "--out", str(run), "--quiet"]
    for item in sets:
        cmd += ["--set", item]
    return cmd


def run_one(cmd: list, run: Path) -> str:
    """Trains one run (resuming it from its last checkpoint if it was left unfinished, or
    starting it over if it stopped before its first); says how it went."""
    from deepq.__main__ import checkpoint_of

    if (run / "summary.json").exists():
        return "finished already"
    if run.exists() and not checkpoint_of(run).exists():
        shutil.rmtree(run)
    run.parent.mkdir(parents=True, exist_ok=True)
    log = run.parent / f"{run.name}.log"
    with open(log, "a") as out:
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        lines = log.read_text().strip().splitlines()
        return f"failed: {lines[-1] if lines else f'exit {done.returncode}'}"
    return "finished"


def train_run(preset: str, game: str, seed: int, run: str, sets: list) -> str:
    """Trains one run with this machine's Python; says how it went."""
    return run_one(train_command(preset, game, seed, Path(run), sets), Path(run))


def train_on_node(preset: str, game: str, seed: int, run: str, sets: list) -> str:
    """:func:`train_run` as a Ray task: the node's own Python trains, into the shared ``run``;
    the status names the node."""
    import ray

    status = train_run(preset, game, seed, run, sets)
    node = ray.get_runtime_context().get_node_id()
    return f"{status} on node {ray.util.get_node_ip_address()} ({node[:8]})"


def run_here(preset: str, runs: list, sets: list, jobs: int) -> int:
    """Trains ``runs`` ((game, seed, run directory) each), ``jobs`` at a time on this
    machine; returns how many failed."""
    def work(job):
        game, seed, run = job
        status = train_run(preset, game, seed, str(run), sets)
        print(f"{run}: {status}", flush=True)
        return status.startswith("failed")

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return sum(pool.map(work, runs))


def run_on_cluster(preset: str, runs: list, sets: list, address: str,
                   jobs: Optional[int]) -> int:
    """Trains ``runs`` as Ray tasks of one CPU each on the cluster at ``address``, at most
    ``jobs`` at a time (default: as many as its CPUs take); returns how many failed."""
    from deepq.tune._trial import one_line

    ray = importlib.import_module("ray")
    # Ray ships the function by reference, so every node imports it from its own deepq
    # (run as ``python -m``, this file's functions belong to ``__main__``).
    task = ray.remote(num_cpus=1, max_retries=0)(
        importlib.import_module("deepq.atari100k").train_on_node)
    ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False,
             include_dashboard=False)
    failures = 0
    try:
        waiting, running = list(runs), {}
        while waiting or running:
            while waiting and (jobs is None or len(running) < jobs):
                game, seed, run = waiting.pop(0)
                running[task.remote(preset, game, seed, str(run), sets)] = run
            [ref], _ = ray.wait(list(running), num_returns=1)
            run = running.pop(ref)
            try:
                status = ray.get(ref)
            except Exception as e:  # the task or its node failed; the other runs go on
                status = f"failed: {one_line(e)}"
            print(f"{run}: {status}", flush=True)
            failures += status.startswith("failed")
    finally:
        ray.shutdown()
    return failures


def check_cluster(address: str) -> None:
    """Ray installed and the cluster answering, or one line saying which is missing."""
    from deepq.tune._sweep import check_address

    try:
        importlib.import_module("ray")
    except ImportError:
        raise ImportError("--address runs the games on Ray, which is not installed: "
                          'pip install "deepq[tune]"') from None
    check_address(address)


def finished_summary(run: Path) -> Optional[dict]:
    """A finished run's ``summary.json``."""
    try:
        return json.loads((run / "summary.json").read_text())
    except (OSError, ValueError):
        return None


def final_score(run: Path) -> Optional[float]:
    """A finished run's final evaluation mean."""
    summary = finished_summary(run)
    return None if summary is None else summary.get("eval_mean")


def aggregates(matrix: list, games: list, reps: int, out: Path) -> dict:
    """rliable's aggregates of ``matrix`` (seeds × games of human-normalized scores), with
    stratified-bootstrap 95% CIs, and the performance profile drawn into ``out``."""
    import numpy as np
    from rliable import library as rly
    from rliable import metrics

    scores = np.asarray(matrix, dtype=float)
    functions = {
        "mean": metrics.aggregate_mean,
        "median": metrics.aggregate_median,
        "iqm": metrics.aggregate_iqm,
        "optimality_gap": metrics.aggregate_optimality_gap,
    }

    def all_four(x):
        return np.array([f(x) for f in functions.values()])

    # A seeded bootstrap: the same runs give the same intervals. (arch warns that its
    # random_state argument, which rliable passes on, will change.)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        points, intervals = rly.get_interval_estimates(
            {"deepq": scores}, all_four, reps=reps, random_state=np.random.RandomState(0))
    result = {name: {"point": float(points["deepq"][i]),
                     "ci95": [float(intervals["deepq"][0][i]),
                              float(intervals["deepq"][1][i])]}
              for i, name in enumerate(functions)}
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from rliable import plot_utils

        taus = np.linspace(0.0, 2.0, 81)
        profiles, profile_cis = rly.create_performance_profile(
            {"deepq": scores}, taus, reps=min(reps, 2000))
        fig, ax = plt.subplots(figsize=(7, 5))
        plot_utils.plot_performance_profiles(
            profiles, taus, performance_profile_cis=profile_cis, ax=ax,
            xlabel=r"Human-normalized score $(\tau)$",
            ylabel=r"Fraction of runs with score $> \tau$")
        fig.tight_layout()
        partial = out / "performance_profile.png.tmp"
        fig.savefig(partial, format="png")
        plt.close(fig)
        os.replace(partial, out / "performance_profile.png")
    except ImportError:
        pass
    result["games"] = games
    return result


def report(preset: str, games: list, seeds: list, out: Path, reps: int) -> dict:
    """Scores of every finished run and, where every game has a seed's run, rliable's
    aggregates over those seeds; written to ``out/scores.json``."""
    raw = {game: {str(seed): final_score(out / game / f"seed-{seed}") for seed in seeds}
           for game in games}
    complete_seeds = [s for s in seeds if all(raw[g][str(s)] is not None for g in games)]
    published_source, published = PUBLISHED.get(preset, (None, {}))
    per_game = {}
    for game in games:
        finished = [v for v in raw[game].values() if v is not None]
        summaries = {str(seed): finished_summary(out / game / f"seed-{seed}") for seed in seeds}
        per_game[game] = {
            "scores": raw[game],
            "mean": sum(finished) / len(finished) if finished else None,
            "human_normalized": (normalized(game, sum(finished) / len(finished))
                                 if finished else None),
            "random": RANDOM[game], "human": HUMAN[game],
            "published": published.get(game),
            "training_wall_s": {seed: s["wall_s"] for seed, s in summaries.items() if s},
        }
    result = {"preset": preset, "games": games, "seeds": seeds, "per_game": per_game,
              "scores_source": SCORES_SOURCE, "published_source": published_source,
              "seeds_on_every_game": complete_seeds}
    if complete_seeds:
        matrix = [[normalized(g, raw[g][str(s)]) for g in games] for s in complete_seeds]
        try:
            result["aggregates"] = aggregates(matrix, games, reps, out)
            result["aggregates"]["seeds"] = complete_seeds
            result["aggregates"]["bootstrap_reps"] = reps
        except ImportError:
            result["aggregates"] = None
            print('rliable is not installed: the aggregates need it (pip install '
                  '"deepq[atari100k]"); per-game scores are written', file=sys.stderr)
    partial = out / "scores.json.tmp"
    partial.write_text(json.dumps(result, indent=1) + "\n")
    os.replace(partial, out / "scores.json")
    return result


def print_table(result: dict) -> None:
    print("| game | runs | mean score | human-normalized | published |")
    print("|---|---:|---:|---:|---:|")
    for game, entry in result["per_game"].items():
        runs = sum(v is not None for v in entry["scores"].values())
        mean = "—" if entry["mean"] is None else f"{entry['mean']:.1f}"
        hns = "—" if entry["human_normalized"] is None else f"{entry['human_normalized']:.3f}"
        published = "—" if entry["published"] is None else f"{entry['published']:.1f}"
        print(f"| {game} | {runs} | {mean} | {hns} | {published} |")
    if result["published_source"]:
        print(f"\npublished: {result['published_source']}")
    agg = result.get("aggregates")
    if agg:
        seeds = len(agg["seeds"])
        print(f"\naggregates over {len(agg['games'])} games × {seeds} seeds "
              f"(stratified bootstrap, 95% CIs):")
        for name in ("mean", "median", "iqm", "optimality_gap"):
            lo, hi = agg[name]["ci95"]
            print(f"  {name}: {agg[name]['point']:.3f} [{lo:.3f}, {hi:.3f}]")


def main(argv: Optional[list] = None) -> None:
    from deepq.__main__ import _parse_seeds

    parser = argparse.ArgumentParser(prog="python -m deepq.atari100k",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="atari100k-drq")
    parser.add_argument("--games", default="all", help="all, or comma-separated game names")
    parser.add_argument("--seeds", default="0..3", metavar="A..B|LIST")
    parser.add_argument("--jobs", type=int,
                        help="runs at a time (default: 1 on this machine; on a cluster, as "
                             "many as its CPUs take)")
    parser.add_argument("--address", metavar="HOST:PORT",
                        help="train on the Ray cluster at this address (or auto), one CPU per "
                             "run; OUT must be on a filesystem every node sees")
    parser.add_argument("--out", metavar="DIR", help="default: runs/atari100k/<preset>")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override one config key of every run (repeatable)")
    parser.add_argument("--reps", type=int, default=50_000,
                        help="bootstrap resamples of the confidence intervals")
    parser.add_argument("--report-only", action="store_true",
                        help="score the runs already finished; train nothing")
    args = parser.parse_args(argv)
    try:
        games = parse_games(args.games)
        seeds = _parse_seeds(args.seeds)
        if args.jobs is not None and args.jobs < 1:
            raise ValueError(f"invalid value {args.jobs} for '--jobs': must be at least 1")
        if args.reps < 1:
            raise ValueError(f"invalid value {args.reps} for '--reps': must be at least 1")
        from deepq import _native

        _native.Config(args.preset)  # an unknown preset is refused before any run
        from deepq import atari

        atari._ale()  # ale-py is needed before any run starts
        if args.address is not None and not args.report_only:
            check_cluster(args.address)
    except (ValueError, ImportError, ConnectionError) as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    out = Path(args.out or f"runs/atari100k/{args.preset}")
    out.mkdir(parents=True, exist_ok=True)
    failures = 0
    if not args.report_only:
        runs = [(game, seed, out / game / f"seed-{seed}") for seed in seeds for game in games]
        if args.address is None:
            failures = run_here(args.preset, runs, args.set, args.jobs or 1)
        else:
            # Finished runs are skipped here, so that no task is sent for them. The nodes'
            # working directories are not this one: they get absolute paths.
            runs = [(game, seed, run.resolve()) for game, seed, run in runs]
            for _, _, run in runs:
                if (run / "summary.json").exists():
                    print(f"{run}: finished already", flush=True)
            todo = [r for r in runs if not (r[2] / "summary.json").exists()]
            failures = run_on_cluster(args.preset, todo, args.set, args.address, args.jobs)
    result = report(args.preset, games, seeds, out, args.reps)
    print_table(result)
    print(f"\nwrote {out / 'scores.json'}")
    if failures:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
