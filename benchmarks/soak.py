"""Soak: ``python benchmarks/soak.py --calls 10000``.

Runs explainer calls (guided backprop, Grad-CAM, SWAG_G and Jitter-CAM in turn) on a small
eval-mode CNN and records the process's resident memory, threads and open file descriptors
every few hundred calls: after a warm-up they must stay flat. Then two threads share the model,
each repeating calls on its own inputs, and every result must equal the single-threaded one
bit for bit. Writes ``results/soak.json``; exit status 1 if anything grew or differed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time

import torch
from _common import RESULTS, machine
from torch import nn

import swagfast
from swagfast import JitterCAM, attribution
from swagfast.data.bam import SmallCNN
from swagfast.explainers.cam import GradCAM


def make_net() -> nn.Module:
    """The test CNN (BAM's small CNN: an 8x8 last layer at 32x32 input, as a real CNN's last block
    is small, so Jitter-CAM stays cheap), initialised from seed 0 without moving the process's
    random streams."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return SmallCNN(10)


def usage() -> dict:
    with open("/proc/self/status") as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    return {
        "rss_mib": int(fields["VmRSS"].split()[0]) / 1024,
        "threads": int(fields["Threads"]),
        "fds": len(os.listdir("/proc/self/fd")),
    }


def explainers(model):
    swag = swagfast.SWAG(model, "G", 20)
    cam = GradCAM(model, "body")
    jit = JitterCAM(model, "body", "grad-cam")
    return [
        lambda x: attribution.guided(model, x)[0],
        lambda x: cam(x).heatmap,
        lambda x: swag(x).heatmap,
        lambda x: jit(x).heatmap,
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=10000)
    ap.add_argument("--threaded-calls", type=int, default=400, help="calls per thread, shared model")
    args = ap.parse_args()
    model = make_net().eval()
    fns = explainers(model)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 32, 32, generator=g)
    samples, t0 = [], time.perf_counter()
    warmup = min(500, args.calls // 10)
    for i in range(args.calls):
        fns[i % len(fns)](x)
        if i + 1 == warmup or (i + 1) % 500 == 0 or i + 1 == args.calls:
            samples.append({"calls": i + 1, **usage()})
    seconds = time.perf_counter() - t0
    base = next(s for s in samples if s["calls"] >= warmup)
    last = samples[-1]
    grew = {
        "rss_mib": last["rss_mib"] - base["rss_mib"],
        "threads": last["threads"] - base["threads"],
        "fds": last["fds"] - base["fds"],
    }
    flat = grew["rss_mib"] < 32 and grew["threads"] <= 0 and grew["fds"] <= 0

    # two threads share the eval-mode model: every result equals the single-threaded one
    inputs = [torch.rand(2, 3, 32, 32, generator=g) for _ in range(2)]
    alone = [[fn(xi) for fn in fns] for xi in inputs]
    mismatches, errors = [], []

    def work(k: int) -> None:
        try:
            for i in range(args.threaded_calls):
                j = i % len(fns)
                if not torch.equal(fns[j](inputs[k]), alone[k][j]):
                    mismatches.append((k, i))
        except Exception as err:  # noqa: BLE001 - reported
            errors.append(repr(err))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result = {
        "calls": args.calls,
        "seconds": round(seconds, 1),
        "samples": samples,
        "growth_after_warmup": grew,
        "flat": flat,
        "threaded_calls": 2 * args.threaded_calls,
        "threaded_mismatches": len(mismatches),
        "threaded_errors": errors[:5],
        "machine": machine(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "soak.json").write_text(json.dumps(result, indent=2))
    print(f"{args.calls} calls in {seconds:.0f} s; after {warmup} warm-up calls: {grew}")
    print(
        f"two threads, {2 * args.threaded_calls} calls: "
        f"{len(mismatches)} results differed, {len(errors)} errors"
    )
    return 0 if flat and not mismatches and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
