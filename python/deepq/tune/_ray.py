"""The parts of a sweep that extend Ray Tune's classes: the progress line and the Optuna
searcher (this module imports Ray and Optuna: the driver imports it once they are needed)."""

from __future__ import annotations

import sys

from ray.tune import Callback
from ray.tune.search.optuna import OptunaSearch


class FinalObjectiveSearch(OptunaSearch):
    """Optuna's TPE on the objective of finished trials only. A trial's periodic reports
    carry the evaluation ASHA prunes on, not the objective (which exists only once every
    seed has finished), so they are not Optuna's intermediate values; a pruned trial
    reaches Optuna as pruned."""

    def on_trial_result(self, trial_id, result):
        pass


class ProgressLine(Callback):
    """Prints one line whenever a trial ends: trials done out of the total, how many were
    pruned or failed, and the best objective so far."""

    def __init__(self, total: int, enabled: bool = True):
        self.total = total
        self.enabled = enabled

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._print(trials, trial, "TERMINATED")

    def on_trial_error(self, iteration, trials, trial, **info):
        self._print(trials, trial, "ERROR")

    def _print(self, trials, current, status: str) -> None:
        """The line, with `current` counted as ending with `status` (Ray calls back before
        it updates the trial's status)."""
        if not self.enabled:
            return
        statuses = {t.trial_id: t.status for t in trials}
        statuses[current.trial_id] = status
        ended = [t for t in trials if statuses[t.trial_id] in ("TERMINATED", "ERROR")]
        failed = sum(statuses[t.trial_id] == "ERROR" for t in ended)
        scored = [(t.last_result.get("iqm"), t) for t in ended
                  if statuses[t.trial_id] == "TERMINATED" and t.last_result.get("iqm") is not None]
        pruned = len(ended) - failed - len(scored)
        line = f"deepq.tune: {len(ended)}/{self.total} trials done ({pruned} pruned, {failed} failed)"
        if scored:
            best, trial = max(scored, key=lambda pair: pair[0])
            line += f", best IQM {best:.2f} (trial {trial.trial_id})"
        print(line, file=sys.stderr, flush=True)
