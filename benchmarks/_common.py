"""Shared benchmark helpers: median timing, peak memory, machine description, table and JSON output."""

from __future__ import annotations

import ctypes
import gc
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
    import datetime
    import subprocess

    import swagfast

    info["date"] = datetime.datetime.now(datetime.UTC).date().isoformat()
    info["swagfast"] = swagfast.__version__ + " (unreleased)"
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent
    )
    info["commit"] = head.stdout.strip() if head.returncode == 0 else "unknown"
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


class PeakMemory:
    """The memory a call adds at its peak, in MiB (its result included).

    CPU (Linux, glibc): the process's peak resident set during the call (``VmHWM``, reset
    through ``/proc/self/clear_refs`` just before it) less the resident set before it; freed heap
    memory is handed back first (``malloc_trim``), so a call that reuses it still counts it. So
    every allocator is seen (torch's, numpy's, OpenCV's, swagfast's C++ vectors), threads
    included. For the resident set to follow live memory, blocks from 128 KiB on are mapped
    and unmapped one by one (glibc otherwise raises that threshold after each free, up to 32
    MiB, and serves big blocks from a heap whose freed pages stay resident): so make this
    object *before* loading models or data, whose blocks would otherwise sit in that heap and
    make later peaks read high, and not in a process that times things (every big block then
    costs a fresh mapping).
    CUDA: torch's peak allocated bytes on the device less those allocated before (everything
    swagfast puts on the device goes through torch's allocator).
    """

    def __init__(self, device: str = "cpu") -> None:
        self.cuda = device.startswith("cuda")
        if self.cuda:
            return
        try:
            self.libc = ctypes.CDLL("libc.so.6")
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
        except OSError as err:
            raise SystemExit(f"peak memory on the CPU needs Linux with glibc ({err})") from None
        if not hasattr(self.libc, "malloc_trim"):
            raise SystemExit("peak memory on the CPU needs glibc's malloc_trim")
        self.libc.mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD (fixed from now on)
        self.libc.mallopt(-1, 256 * 1024)  # M_TRIM_THRESHOLD

    @staticmethod
    def _kib(key: str) -> int:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
        raise SystemExit(f"/proc/self/status has no {key}")

    def once(self, fn: Callable[[], object]) -> float:
        gc.collect()
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            before = torch.cuda.memory_allocated()
            out = fn()
            torch.cuda.synchronize()
            peak = (torch.cuda.max_memory_allocated() - before) / 2**20
        else:
            self.libc.malloc_trim(0)  # freed heap pages back to the system: reusing them counts again
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # VmHWM := VmRSS
            before = self._kib("VmRSS:")
            out = fn()
            peak = (self._kib("VmHWM:") - before) / 1024
        del out
        return peak

    def median(self, fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
        """Median over ``repeats`` calls after ``warmup``."""
        for _ in range(warmup):
            fn()
        return statistics.median(self.once(fn) for _ in range(repeats))


def ratio_rows(
    res: dict[str, float], floor: str, base: str, base_key: str, thesis: dict, floor_digits: int = 2, **extra
) -> list[dict]:
    """A row per timed method of ``res`` (median ms): its ratio to the ``floor`` row, to the
    ``base`` row (column ``base_key``) and the thesis's ratio to ``base`` where it has the method;
    ``extra`` fields follow the method's name."""
    return [
        {
            "method": k,
            **extra,
            "x_floor": round(v / res[floor], floor_digits),
            base_key: round(v / res[base], 2),
            f"thesis_{base_key}": round(thesis[k] / thesis[base], 2) if k in thesis else None,
            "median_ms": v,
        }
        for k, v in res.items()
    ]


def report(name: str, rows: list[dict], reference: str | None, extra: dict | None = None) -> None:
    """Print a markdown table (with ratios to the row whose method is ``reference``, if given)
    and write the rows as JSON to benchmarks/results/NAME.json. Rows without ``median_ms``
    (memory tables) are printed column by column as they are."""
    if "median_ms" not in rows[0]:
        print("| " + " | ".join(rows[0]) + " |")
        print("|" + "---|" * len(rows[0]))
        for r in rows:
            print("| " + " | ".join("" if v is None else str(v) for v in r.values()) + " |")
    else:
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
