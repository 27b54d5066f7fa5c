"""The long fuzz run: ``python benchmarks/fuzz.py --cases 90000``.

Draws the cases of ``swagfast._fuzz`` (hypothesis, derandomised: the same cases every run) over
every native-backed op on the host backends, runs each in an isolated worker process and counts
the outcomes (crashes, hangs, silent wrong outputs, backend disagreements, rejections naming the
argument or not). Writes ``results/fuzz.json`` and the table of ``RESULTS.md``'s fuzz section.
Exit status 1 when any failure was counted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from _common import RESULTS, machine
from hypothesis import HealthCheck, given, settings

import swagfast
from swagfast import _fuzz


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=90000)
    ap.add_argument(
        "--timeout", type=float, default=300.0, help="seconds a case may take before it is a hang"
    )
    args = ap.parse_args()
    host = tuple(b for b in ("cpu", "numba") if swagfast.backends()[b].available)
    worker = _fuzz.Worker(timeout=args.timeout)
    seen, findings, by_op = [], [], {}

    @settings(
        max_examples=args.cases,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_fuzz.cases(host))
    def run(case):
        outcome, detail = worker.run(case)
        seen.append(outcome)
        key = (case["op"], "valid" if case["mutation"] is None else "invalid")
        by_op.setdefault(key, []).append(outcome)
        if outcome in _fuzz.FAILURES and len(findings) < 50:
            findings.append({"outcome": outcome, "detail": detail, "case": case})

    t0 = time.perf_counter()
    try:
        run()
    finally:
        worker.close()
    seconds = time.perf_counter() - t0
    counts = _fuzz.tally(seen)
    invalid = counts["named"] + counts["unnamed"] + counts["wrong_error"] + counts["accepted"]
    summary = {
        "cases": len(seen),
        "seconds": round(seconds, 1),
        "backends": list(host),
        "counts": dict(counts),
        "rejections_naming_the_argument": counts["named"] / invalid if invalid else None,
        "by_op": {f"{op} {kind}": dict(_fuzz.tally(v)) for (op, kind), v in sorted(by_op.items())},
        "findings": findings,
        "machine": machine(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "fuzz.json").write_text(json.dumps(summary, indent=2))
    import report  # RESULTS.md's fuzz table (and any other) from the JSON

    tmp = report.DOC.with_name(f".{report.DOC.name}.tmp")
    tmp.write_text(report.regenerate(report.DOC.read_text()))
    tmp.replace(report.DOC)
    print(f"{len(seen)} cases in {seconds:.0f} s on {', '.join(host)}")
    for k in _fuzz.OUTCOMES:
        print(f"  {k:15} {counts[k]}")
    for f in findings[:10]:
        print("finding:", f)
    return 1 if any(counts[k] for k in _fuzz.FAILURES) else 0


if __name__ == "__main__":
    sys.exit(main())
