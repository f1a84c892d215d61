"""Stable-Baselines3's own tests with ``stable_baselines3.DQN`` replaced by ``deepq.DQN``, and
sb3-contrib's with ``sb3_contrib.QRDQN`` replaced by ``deepq.QRDQN``.

Copies the test files that concern the class from a checkout of the repository, swaps the
class in each (``from stable_baselines3 import ..., DQN, ...`` is followed by
``DQN = deepq.DQN``), and runs their cases of that class (pytest ``-k DQN or dqn``) with the
installed deepq, SB3 and sb3-contrib::

    git clone https://github.com/DLR-RM/stable-baselines3 /tmp/sb3
    python tests/sb3_compat/run.py --sb3 /tmp/sb3 [--report report.json] [-- PYTEST ARGS]
    git clone https://github.com/Stable-Baselines-Team/stable-baselines3-contrib /tmp/contrib
    python tests/sb3_compat/run.py --sb3-contrib /tmp/contrib

prints each case's outcome and the count of passes. ``--original`` runs the same cases with
the library's own class, for comparison. Not part of CI: it needs the checkout (and the test
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

#: For each library: its module, the class swapped for deepq's, and the test files that
#: exercise that class.
TARGETS = {
    "sb3": ("stable_baselines3", "DQN", ("test_run.py", "test_callbacks.py",
                                         "test_save_load.py", "test_predict.py",
                                         "test_vec_envs.py")),
    "sb3-contrib": ("sb3_contrib", "QRDQN", ("test_run.py", "test_save_load.py",
                                              "test_cnn.py", "test_identity.py",
                                              "test_deterministic.py", "test_dict_env.py",
                                              "test_train_eval_mode.py")),
}


def swap(text: str, module: str, name: str) -> str:
    """``text`` with every ``from MODULE import ... NAME ...`` followed by
    ``NAME = deepq.NAME``."""
    pattern = re.compile(rf"^from {module} import [^\n]*\b{name}\b[^\n]*$", re.MULTILINE)
    return pattern.sub(lambda m: m.group(0) + f"\nimport deepq as _deepq\n{name} = _deepq.{name}\n",
                       text)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--sb3", type=Path, help="a checkout of SB3's repository")
    which.add_argument("--sb3-contrib", type=Path, help="a checkout of sb3-contrib's repository")
    p.add_argument("--report", type=Path, help="write the outcomes as JSON here")
    p.add_argument("--original", action="store_true",
                   help="run the library's own class instead")
    p.add_argument("pytest_args", nargs="*")
    args = p.parse_args()
    repo, (module, name, files) = ((args.sb3, TARGETS["sb3"]) if args.sb3 is not None
                                   else (args.sb3_contrib, TARGETS["sb3-contrib"]))
    tests = repo / "tests"
    if not tests.is_dir():
        p.error(f"{repo} has no tests/ directory: pass a checkout of the repository")
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        shutil.copytree(tests, work / "tests")
        for file in files:
            path = work / "tests" / file
            if path.exists() and not args.original:
                path.write_text(swap(path.read_text(), module, name))
        report = work / "report.xml"
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k",
               f"{name} or {name.lower()}", f"--junitxml={report}", "-o", "addopts=",
               *[str(work / "tests" / f) for f in files if (work / "tests" / f).exists()],
               *args.pytest_args]
        subprocess.run(cmd, cwd=work)
        outcomes = parse_junit(report)
    for case, outcome in sorted(outcomes.items()):
        print(f"{outcome:7} {case}")
    passed = sum(o == "passed" for o in outcomes.values())
    who = f"{module}.{name}" if args.original else f"deepq.{name}"
    print(f"\n{who}: {passed} of {len(outcomes)} {name} cases passed")
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
