"""Property-based fuzzing of every native-backed op on every host backend (bounded profile; the
long run is ``benchmarks/fuzz.py``). Each case runs in a worker process, so an abort is a
counted failure, not the end of the test run; valid inputs are checked against the numpy
references and the other backend, invalid ones must be rejected with an error naming the
argument."""

from __future__ import annotations

import pytest

import swagfast

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is a test extra: pip install '.[test]'")
from hypothesis import given, settings  # noqa: E402

from swagfast import _fuzz  # noqa: E402

HOST = tuple(b for b in ("cpu", "numba") if swagfast.backends()[b].available)
seen: list[str] = []


@pytest.fixture(scope="module")
def worker():
    w = _fuzz.Worker(timeout=300)  # the first case of each kernel compiles it (Numba)
    yield w
    w.close()


@settings(max_examples=4000, deadline=None, database=None, derandomize=True)
@given(case=_fuzz.cases(HOST))
def check(worker, case):
    outcome, detail = worker.run(case)
    seen.append(outcome)
    assert outcome not in _fuzz.FAILURES, (outcome, detail, case)


def test_fuzz_native_ops(worker):
    seen.clear()
    check(worker)
    counts = _fuzz.tally(seen)
    print("fuzz outcomes:", dict(counts))
    assert counts["ok"] > 100 and counts["named"] > 100  # both halves were exercised


def test_the_fuzzer_counts_crashes_and_hangs_and_goes_on():
    case = {"op": "accumulate_patches", "backend": HOST[0], "seed": 1, "mutation": None}
    aborts = _fuzz.Worker(program="import os, sys; sys.stdin.buffer.read(4); os.abort()")
    hangs = _fuzz.Worker(timeout=2, program="import time; time.sleep(60)")
    try:
        assert aborts.run(case)[0] == "crash"
        assert aborts.run(case)[0] == "crash"  # a new child each time: the run goes on
        assert hangs.run(case)[0] == "hang"
    finally:
        aborts.close()
        hangs.close()
    w = _fuzz.Worker()
    try:
        assert w.run(case) == ("ok", "")
    finally:
        w.close()
