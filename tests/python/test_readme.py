"""The README's Python blocks run as written: each reads no name it does not define or import
(a reader pastes one block at a time), and each runs, in a fresh directory, with the
packages the README's install lines name (the blocks train for seconds)."""

import builtins
import re
import symtable
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def python_blocks() -> list:
    """Each ```python block of the README as (its first line number, its source)."""
    text = README.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start(1)) + 1, m.group(1))
            for m in re.finditer(r"^```python\n(.*?)^```", text, flags=re.M | re.S)]


def global_reads(table: symtable.SymbolTable) -> set:
    """The module-level names that `table` and the scopes nested in it read."""
    module = table.get_type() == "module"
    reads = {s.get_name() for s in table.get_symbols()
             if s.is_referenced() and (module or s.is_global())}
    for child in table.get_children():
        reads |= global_reads(child)
    return reads


def undefined_names(source: str) -> set:
    """Names `source` reads that it neither assigns nor imports and that are not builtins."""
    table = symtable.symtable(source, str(README), "exec")
    defined = {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported()}
    return global_reads(table) - defined - set(dir(builtins))


def test_the_readme_has_python_blocks():
    assert len(python_blocks()) >= 2


@pytest.mark.parametrize("line,source", [pytest.param(line, source, id=f"line {line}")
                                         for line, source in python_blocks()])
def test_readme_python_block_runs_as_written(line, source, tmp_path, monkeypatch):
    code = compile(source, f"{README}:{line}", "exec")
    assert not undefined_names(source), f"README.md line {line}"
    monkeypatch.chdir(tmp_path)
    exec(code, {"__name__": "__readme__"})


def test_undefined_names_are_found():
    assert undefined_names("import deepq\nmodel.predict(obs)\n") == {"model", "obs"}
    assert undefined_names("x = 1\nf = lambda: x + y\n") == {"y"}
