"""Stable-Baselines3's own tests with ``stable_baselines3.DQN`` replaced by ``deepq.DQN``.

Copies the test files that concern DQN from a checkout of SB3's repository, swaps the class
in each (``from stable_baselines3 import ..., DQN, ...`` is followed by ``DQN = deepq.DQN``),
and runs their DQN cases (pytest ``-k DQN or dqn``) with the installed deepq and SB3::

    git clone https://github.com/DLR-RM/stable-baselines3 /tmp/sb3
    python tests/sb3_compat/run.py --sb3 /tmp/sb3 [--report report.json] [-- PYTEST ARGS]

prints each case's outcome and the count of passes. ``--original`` runs the same cases with
SB3's own DQN, for comparison. Not part of CI: it needs the checkout (and SB3's test
dependencies: pytest, tensorboard, rich, tqdm).
"""

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

#: SB3's test files that exercise DQN.
FILES = ("test_run.py", "test_callbacks.py", "test_save_load.py", "test_predict.py",
         "test_vec_envs.py")

SWAP = "\nimport deepq as _deepq\nDQN = _deepq.DQN\n"


def swap_dqn(text: str) -> str:
    """``text`` with every ``from stable_baselines3 import ... DQN ...`` followed by the swap."""
    pattern = re.compile(r"^from stable_baselines3 import [^\n]*\bDQN\b[^\n]*$", re.MULTILINE)
    return pattern.sub(lambda m: m.group(0) + SWAP, text)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--sb3", required=True, type=Path, help="a checkout of SB3's repository")
    p.add_argument("--report", type=Path, help="write the outcomes as JSON here")
    p.add_argument("--original", action="store_true", help="run SB3's own DQN instead")
    p.add_argument("pytest_args", nargs="*")
    args = p.parse_args()
    tests = args.sb3 / "tests"
    if not tests.is_dir():
        p.error(f"{args.sb3} has no tests/ directory: pass a checkout of SB3's repository")
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        shutil.copytree(tests, work / "tests")
        for name in FILES:
            path = work / "tests" / name
            if path.exists() and not args.original:
                path.write_text(swap_dqn(path.read_text()))
        report = work / "report.xml"
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k",
               "DQN or dqn", f"--junitxml={report}", "-o", "addopts=",
               *[str(work / "tests" / n) for n in FILES if (work / "tests" / n).exists()],
               *args.pytest_args]
        subprocess.run(cmd, cwd=work)
        outcomes = parse_junit(report)
    for case, outcome in sorted(outcomes.items()):
        print(f"{outcome:7} {case}")
    passed = sum(o == "passed" for o in outcomes.values())
    who = "SB3's own DQN" if args.original else "deepq.DQN"
    print(f"\n{who}: {passed} of {len(outcomes)} DQN cases passed")
    if args.report:
        args.report.write_text(json.dumps({"dqn": who, "passed": passed,
                                           "cases": outcomes}, indent=1) + "\n")
    return 0


def parse_junit(path: Path) -> dict:
    """``{file::case: passed|failed|error|skipped}`` from pytest's JUnit XML."""
    import xml.etree.ElementTree as ET

    outcomes = {}
    for case in ET.parse(path).iter("testcase"):
        name = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
        kinds = {child.tag for child in case}
        outcome = ("failed" if "failure" in kinds else "error" if "error" in kinds
                   else "skipped" if "skipped" in kinds else "passed")
        outcomes[name] = outcome
    return outcomes


if __name__ == "__main__":
    sys.exit(main())
