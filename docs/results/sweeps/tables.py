"""Prints the Markdown tables of docs/sweeps.md from the sweep outputs in this folder
(written by run.sh): python docs/results/sweeps/tables.py cartpole lunarlander"""

import csv
import json
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOP = 8


def summary_row(label, path):
    s = json.loads(path.read_text())
    e = s["eval_mean"]
    seeds = f"{s['seeds'][0]}..{s['seeds'][-1]}"
    return (f"| {label} | {seeds} | {e['iqm']:.2f} | {e['mean']:.2f} | "
            f"[{e['ci95'][0]:.2f}, {e['ci95'][1]:.2f}] | {s['solve_rate']:.0%} |")


def tables(name):
    folder = HERE / name
    settings = json.loads((folder / "sweep.json").read_text())
    rows = list(csv.DictReader((folder / "trials.csv").open()))
    keys = [k for k, _, _ in settings["space"]]
    finished = sorted((r for r in rows if r["status"] == "finished"),
                      key=lambda r: (-float(r["iqm"]), int(r["trial"])))
    untuned = json.loads((folder / "untuned-summary.json").read_text())["eval_mean"]["iqm"]
    counts = {s: sum(r["status"] == s for r in rows) for s in ("finished", "pruned", "failed")}
    best = finished[0]
    print(f"### {name}: {len(rows)} trials, {counts['finished']} finished, "
          f"{counts['pruned']} pruned, {counts['failed']} failed; "
          f"{sum(float(r['iqm']) > untuned for r in finished)} finished trials above the "
          f"untuned IQM ({untuned:.2f}); median IQM of the finished trials "
          f"{statistics.median(float(r['iqm']) for r in finished):.2f}\n")
    print("| config | seeds | IQM | mean | 95% CI of the mean | solve rate |")
    print("|---|---|---|---|---|---|")
    print(summary_row(f"untuned `{settings['preset']}`", folder / "untuned-summary.json"))
    print(f"| best trial ({best['trial']}) | 0..{settings['seeds'] - 1} | "
          f"{float(best['iqm']):.2f} | {float(best['mean']):.2f} | | "
          f"{float(best['solve_rate']):.0%} |")
    print(summary_row("untuned, held-out seeds", folder / "untuned-heldout-summary.json"))
    print(summary_row("`best.toml`, held-out seeds", folder / "best-heldout-summary.json"))
    print(f"\nThe {TOP} best finished trials:\n")
    print("| trial | " + " | ".join(f"`{k}`" for k in keys) + " | IQM | mean | solve rate | wall s |")
    print("|---" * (len(keys) + 5) + "|")
    for r in finished[:TOP]:
        values = []
        for k in keys:
            v = json.loads(r[k])
            values.append(f"{v:.4g}" if isinstance(v, float) else json.dumps(v))
        print(f"| {r['trial']} | " + " | ".join(values) + f" | {float(r['iqm']):.2f} | "
              f"{float(r['mean']):.2f} | {float(r['solve_rate']):.0%} | "
              f"{float(r['wall_s']):.1f} |")
    print()


if __name__ == "__main__":
    for name in sys.argv[1:]:
        tables(name)
