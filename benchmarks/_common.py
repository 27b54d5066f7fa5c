"""Shared benchmark helpers: median timing, machine description, table and JSON output."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

RESULTS = Path(__file__).parent / "results"


def machine() -> dict:
    info = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def median_ms(fn: Callable[[], object], repeats: int, warmup: int = 2, sync: bool = False) -> float:
    """Median wall-clock of ``fn`` in milliseconds after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    if sync:
        torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        if sync:
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def median_ms_interleaved(
    fns: dict[str, Callable[[], object]], repeats: int, warmup: int = 2, sync: bool = False
) -> dict[str, float]:
    """Median ms of each function, timed in interleaved rounds (every round runs each once, in a
    rotating order), so slow periods of a shared machine hit all of them alike."""
    names = list(fns)
    for _ in range(warmup):
        for n in names:
            fns[n]()
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        for n in names[r % len(names) :] + names[: r % len(names)]:
            if sync:
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            fns[n]()
            if sync:
                torch.cuda.synchronize()
            times[n].append((time.perf_counter() - t0) * 1e3)
    return {n: statistics.median(v) for n, v in times.items()}


def report(name: str, rows: list[dict], reference: str | None, extra: dict | None = None) -> None:
    """Print a markdown table (with ratios to the row whose method is ``reference``, if given)
    and write the rows as JSON to benchmarks/results/NAME.json."""
    if reference is not None:
        ref = next(r["median_ms"] for r in rows if r["method"] == reference)
        key = "ratio_to_" + reference.replace(" ", "_")
        for r in rows:
            r[key] = round(r["median_ms"] / ref, 3)
    cols = [k for k in rows[0] if k != "median_ms" and not k.startswith("ratio_to_")]
    head = f"| {' | '.join(cols)} | median ms |" + (f" x {reference} |" if reference else "")
    print(head)
    print("|" + "---|" * (len(cols) + 1 + (reference is not None)))
    for r in rows:
        vals = " | ".join(str(r[c]) for c in cols)
        tail = f" {r['median_ms'] / ref:.3f} |" if reference else ""
        print(f"| {vals} | {r['median_ms']:.3f} |{tail}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = {"benchmark": name, "machine": machine(), "rows": rows, **(extra or {})}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(out, indent=2))
    print(f"\nwritten {path}")
