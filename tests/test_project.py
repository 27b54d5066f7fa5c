"""The README's set-up commands are what CI runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def script(relative: str):
    """A script of the checkout imported as a module (skips when the checkout is not here)."""
    import importlib.util

    path = ROOT / relative
    if not path.exists():
        pytest.skip(f"{relative} is not next to the tests (installed test run)")
    spec = importlib.util.spec_from_file_location(f"swagfast_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block, "README must start with a bash block of set-up commands"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_readme_starts_with_two_setup_commands():
    if not (ROOT / "README.md").exists():
        pytest.skip("README.md is not next to the tests (installed test run)")
    cmds = readme_commands()
    assert len(cmds) == 2
    assert "swagfast demo" in cmds[0] and "pytest" in cmds[1]
    assert all("torch==2.13.0" in c for c in cmds)


def test_ci_runs_the_readme_test_command():
    if not (ROOT / ".ci" / "run").exists():
        pytest.skip(".ci/run is not next to the tests (installed test run)")
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert readme_commands()[1] in ci_lines


def test_readme_python_examples_run(tmp_path, monkeypatch):
    """The README's python blocks are executed as they stand, in order (so they cannot rot)."""
    text = (ROOT / "README.md").read_text() if (ROOT / "README.md").exists() else None
    if text is None:
        pytest.skip("README.md is not next to the tests (installed test run)")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 2, "README must show the own-model example and the API tour"
    monkeypatch.chdir(tmp_path)  # the own-model example saves its figures to the working directory
    scope: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), scope)  # noqa: S102
    assert scope["exp"].heatmap.shape == (1, 128, 128) and int(scope["exp"].target[0]) == 0
    assert (tmp_path / "my-explanations" / "input-0.swag-g.png").exists()
    assert scope["rows"][0]["target"] == {"class": 0, "name": "cat"}
    scope = {}
    exec(compile(blocks[1], "README.md", "exec"), scope)  # noqa: S102
    assert scope["exp"].target.tolist() == [285, 967]
    assert tuple(scope["jit"].raw.shape) == (2, 14, 14)
    assert scope["labels"].shape == (2, 224, 224)


def test_results_tables_are_what_the_json_gives():
    """Every marked table of benchmarks/RESULTS.md is regenerated from benchmarks/results/*.json
    by benchmarks/report.py; the committed document must match (so no table is typed by hand)."""
    report = script("benchmarks/report.py")
    text = (ROOT / "benchmarks" / "RESULTS.md").read_text()
    assert len(report.MARK.findall(text)) >= 13
    assert report.regenerate(text) == text, "run python benchmarks/report.py"


MEASURE = """
import json, sys
sys.path.insert(0, sys.argv[1])
from _common import PeakMemory
memory = PeakMemory()
import numpy as np, torch

def returned():  # 64 MiB kept in the result
    return torch.ones(16 * 2**20)

def temporary():  # 32 MiB freed before the call returns
    np.ones(4 * 2**20).sum()

def small_blocks():  # 20000 blocks of 8 KiB: heap, not mmap
    return [np.ones(1024) for _ in range(20000)]

held = small_blocks()  # the heap grows by ~160 MiB, then is freed: a later call reuses it
del held
print(json.dumps([memory.median(fn, repeats=3) for fn in (returned, temporary, small_blocks)]))
"""


def test_benchmark_peak_memory_counts_what_a_call_allocates():
    """benchmarks/_common.PeakMemory (the memory tables' measure) sees a call's own peak: a tensor
    it returns, an array it frees before returning, and heap memory it reuses after an earlier
    call freed it (which the resident set would hide without malloc_trim). In a child process:
    the measure changes glibc's malloc settings for the process it runs in."""
    import json
    import subprocess
    import sys

    bench = ROOT / "benchmarks"
    if not (bench / "_common.py").exists():
        pytest.skip("benchmarks/ is not next to the tests (installed test run)")
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("peak memory needs Linux's /proc/self/clear_refs")
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, str(bench)], capture_output=True, text=True, check=True
    ).stdout
    returned, temporary, small_blocks = json.loads(out.splitlines()[-1])
    assert 63.9 <= returned <= 66.0
    assert 31.9 <= temporary <= 34.0
    assert 20000 * 8 / 1024 * 0.97 <= small_blocks <= 20000 * 8.5 / 1024 + 4


def test_no_reference_outside_the_repository_or_to_issue_numbers():
    """The code and docs stand alone: no file outside the repository, no tracker numbers (the
    history is in CHANGELOG.md, the measurements in benchmarks/RESULTS.md)."""
    import re

    outside = re.compile(
        "|".join([r"\.\./" + "shared", "SPEC" + r"\.md", "DESIGN" + r"\.md", r"\bissue\s*#?\d"]), re.I
    )
    found = []
    for folder in ("swagfast", "docs", "tests", "benchmarks", "csrc"):
        for path in sorted((ROOT / folder).rglob("*")):
            if (
                path.suffix not in (".py", ".md", ".h", ".cpp", ".cu", ".sh", ".inc")
                or "results" in path.parts
            ):
                continue
            for i, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                if outside.search(line):
                    found.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not found, "\n".join(found)


def test_functions_stay_short_and_take_few_positional_arguments():
    """No function of the package over 80 lines (its docstring aside) or with more than 8
    positional parameters: past that, options belong in keyword arguments or a parameter object."""
    import ast

    found = []
    for path in sorted((ROOT / "swagfast").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            first = node.body[0]
            doc = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            lines = node.end_lineno - node.lineno + 1 - (first.end_lineno - first.lineno + 1 if doc else 0)
            positional = len(node.args.posonlyargs) + len(node.args.args)
            if lines > 80 or positional > 8:
                where = f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"
                found.append(f"{where}: {lines} lines, {positional} positional")
    assert not found, "\n".join(found)


def test_the_api_reference_is_what_the_docstrings_give():
    """docs/API.md is generated from the docstrings by docs/make_api.py; the committed file must
    match (so the reference cannot drift from the code)."""
    make_api = script("docs/make_api.py")
    assert (ROOT / "docs" / "API.md").read_text() == make_api.render(), "run python docs/make_api.py"
