"""``python -m deepq.tune``: a hyperparameter sweep from the shell (see :mod:`deepq.tune`).
Bad input is one line on stderr and exit status 2; a sweep in which no trial finished exits
with 1; Ctrl-C with 130 (run the same command again to resume)."""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from deepq.tune import run


class _Parser(argparse.ArgumentParser):
    """argparse with its errors as one line (it prints the usage block first by default)."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see python -m deepq.tune --help)\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m deepq.tune",
        description="Search deepq hyperparameters with Optuna's TPE on Ray Tune; each trial "
                    "is scored by the IQM of its seeds' final greedy evaluations.")
    base = p.add_mutually_exclusive_group()
    base.add_argument("--preset", metavar="NAME", help="preset to start from (default: default)")
    base.add_argument("--config", metavar="FILE.toml",
                      help="TOML file of config keys, applied over the default preset")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config key of the base config (repeatable)")
    p.add_argument("--space", required=True, metavar="FILE.toml", help="search space")
    p.add_argument("--trials", type=int, default=20, metavar="N", help="trials (default 20)")
    p.add_argument("--seeds", type=int, default=3, metavar="K",
                   help="seeds 0..K-1 per trial (default 3)")
    p.add_argument("--out", default="sweep", metavar="DIR",
                   help="sweep directory; rerunning with the same DIR resumes (default: sweep)")
    p.add_argument("--address", metavar="HOST:PORT",
                   help="join this Ray cluster (or 'auto'); default: start a local Ray")
    p.add_argument("--num-cpus", type=int, metavar="N",
                   help="CPUs of the local Ray instance (default: all)")
    p.add_argument("--cpus-per-trial", type=int, metavar="N",
                   help="CPUs each trial asks Ray for (default: K, at most a node's CPUs)")
    p.add_argument("--no-prune", dest="prune", action="store_false",
                   help="train every trial to its end (no ASHA early stopping)")
    p.add_argument("--search-seed", type=int, default=0, metavar="N",
                   help="seed of the TPE sampler (default 0)")
    p.add_argument("--trial-timeout", type=float, metavar="SECONDS",
                   help="stop a trial still running after this long and record it as failed "
                        "(default: no limit)")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    """Runs the command; returns its exit status."""
    args = _parser().parse_args(argv)
    try:
        result = run(args.space, preset=args.preset, config=args.config, sets=args.sets,
                     trials=args.trials, seeds=args.seeds, out=args.out, address=args.address,
                     prune=args.prune, cpus_per_trial=args.cpus_per_trial,
                     num_cpus=args.num_cpus, search_seed=args.search_seed,
                     progress=not args.quiet, trial_timeout=args.trial_timeout)
    except KeyboardInterrupt:
        print("error: interrupted; run the same command again to resume the sweep",
              file=sys.stderr)
        return 130
    except (ValueError, OSError, ImportError) as e:
        print(f"error: {str(e).splitlines()[0] if str(e) else type(e).__name__}",
              file=sys.stderr)
        return 2
    counts = {}
    for row in result.trials:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    print(f"{len(result.trials)} trials: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    print(f"trials: {result.out / 'trials.csv'}")
    if not result.complete:
        print("error: the sweep was interrupted before all its trials ended; run the same "
              "command again to resume it", file=sys.stderr)
        return 130
    if result.best is None:
        print("error: no trial finished; see the error column of trials.csv", file=sys.stderr)
        return 1
    b = result.best
    print(f"best: trial {b['trial_id']}, IQM {b['iqm']:.2f} (mean {b['mean']:.2f}, "
          f"solve rate {b['solve_rate']:.0%})")
    print(f"config: {result.out / 'best.toml'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
