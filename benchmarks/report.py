"""Regenerate every table of ``benchmarks/RESULTS.md`` from ``benchmarks/results/*.json``.

Each table in RESULTS.md sits between two markers::

    <!-- table: SOURCE -->
    | ... |
    <!-- end table -->

and is re-rendered from the JSON the benchmark or evaluation script wrote; the prose around the
tables is left as it is (re-read it after a new run: it quotes numbers). SOURCE is a results file
name (``bench_pool_cpu``: its ``rows``, every column) or one of the named views below
(``eval_images:deletion``, ...). The file is written atomically.

    python benchmarks/report.py          # rewrite RESULTS.md from the JSON there is
    python benchmarks/report.py --run    # first rerun every script RESULTS.md's headings name (hours)
    python benchmarks/report.py --check  # exit 1 if RESULTS.md is not what the JSON gives
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).parent
RESULTS = HERE / "results"
DOC = HERE / "RESULTS.md"
MARK = re.compile(r"(<!-- table: (?P<src>[^>]+?) -->\n)(?P<body>.*?)(<!-- end table -->)", re.S)


def load(name: str) -> dict:
    path = RESULTS / f"{name}.json"
    if not path.is_file():
        raise SystemExit(f"report: {path} is missing; run the script that writes it first")
    return json.loads(path.read_text())


def fmt(v, key: str = "") -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        if key.endswith("_mib"):
            return f"{v:.2f}"
        if key.endswith("_ms") or key.startswith("ratio_to_") or "x_" in key:
            return f"{v:.3f}"
        return f"{v:.4f}" if abs(v) < 10 else f"{v:.1f}"
    return str(v)


def header(key: str) -> str:
    if key == "median_ms":
        return "median ms"
    if key.endswith("_mib"):
        return key[: -len("_mib")].replace("_", " ") + " MiB"
    if key.startswith("ratio_to_"):
        return "x " + key[len("ratio_to_") :].replace("_", " ")
    return key.replace("_", " ")


def table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def rows_table(name: str) -> str:
    rows = load(name)["rows"]
    keys = [k for k in rows[0] if k not in ("device",)]
    keys = [k for k in keys if k != "median_ms" and not k.startswith("ratio_to_")] + [
        k for k in keys if k == "median_ms" or k.startswith("ratio_to_")
    ]
    return table([header(k) for k in keys], [[fmt(r.get(k), k) for k in keys] for r in rows])


def eval_images_deletion(name: str = "eval_images") -> str:
    d = load(name)
    by: dict[str, dict] = {}
    for r in d["deletion_insertion"]:
        by.setdefault(r["method"], {})[r["set"]] = r
    thesis = d.get("thesis", {}).get("deletion", {})
    head = [
        "method",
        "deletion, photos",
        "deletion, composites",
        "insertion, photos",
        "insertion, composites",
    ]
    head.append("thesis deletion")
    out = []
    order = sorted(by, key=lambda m: by[m].get("photos", {}).get("deletion", float("inf")))
    for m in order:
        sets = by[m]
        p, c = sets.get("photos", {}), sets.get("composites", {})
        out.append(
            [
                m,
                fmt(p.get("deletion")),
                fmt(c.get("deletion")),
                fmt(p.get("insertion")),
                fmt(c.get("insertion")),
            ]
            + [fmt(thesis.get(m.split(" (")[0]))]
        )
    return table(head, out)


def eval_images_localisation(name: str = "eval_images") -> str:
    d = load(name)
    th = d.get("thesis", {})
    out = []
    for m, r in d["localisation"].items():
        t = th.get("localisation", {}).get(m)
        ref = f"{t[0]} / {t[1]} / {t[2]}; {th['pointing'][m]}" if t else ""
        out.append(
            [m, f"{r['value']:.1f} / {r['mean']:.1f} / {r['energy']:.1f}", f"{r['pointing']:.1f}", ref]
        )
    return table(["method", "localisation error %", "pointing game %", "thesis (ResNet-50, ImageNet)"], out)


def eval_images_faithfulness(name: str = "eval_images") -> str:
    d = load(name)["faithfulness"]
    out = [[m, f"{r['average_drop']:.1f}", f"{r['increase_in_confidence']:.1f}"] for m, r in d.items()]
    return table(["heatmap", "average drop %", "increase in confidence %"], out)


def eval_bam() -> str:
    d = load("eval_bam")["mcs"]
    out = [[m, f"{v:.3f}"] for m, v in sorted(d.items(), key=lambda kv: -kv[1])]
    return table(["explainer", "MCS"], out)


def eval_bam_jitter() -> str:
    d = load("eval_bam")["jitter_scales"]
    out = [
        [s, f"{r['mcs']:.3f}", f"{r['crop_accuracy']['object']:.3f}", f"{r['crop_accuracy']['scene']:.3f}"]
        for s, r in d.items()
    ]
    head = ["cam_scale", "Jitter-CAM MCS", "object model on the crops", "scene model on the crops"]
    return table(head, out)


def eval_roar() -> str:
    d = load("eval_roar")["roar"]
    fractions = next(iter(d.values()))["fractions"]
    head = ["explainer", "ROAR AUC"] + [f"acc. at {round(100 * f)}%" for f in fractions]
    out = [
        [m, f"{r['auc']:.3f}", *(f"{v:.3f}" for v in r["mean"])]
        for m, r in sorted(d.items(), key=lambda kv: kv[1]["auc"])
    ]
    return table(head, out)


def eval_failure_t61() -> str:
    d = load("eval_failure")
    out = []
    for m in d["lite0"]:
        v, r = d["thesis_table_6_1"][m]  # (VGG16, ResNet18), as eval_failure.py states them
        out.append([m, f"{d['lite0'][m]['auc']:.3f}", f"{d['bam'][m]['auc']:.3f}", f"{v:.3f}", f"{r:.3f}"])
    return table(["filter score", "Lite0 AUC", "BAM SmallCNN AUC", "thesis VGG16", "thesis ResNet18"], out)


def eval_failure_beta() -> str:
    b = load("eval_failure")["beta"]
    rows = [
        ["mean per-class Spearman(beta, true-class logit)", f"{b['mean_spearman_logit']:.3f}", "0.999"],
        ["mean per-class Spearman(beta, true-class softmax)", f"{b['mean_spearman_softmax']:.3f}", "0.801"],
        ["misclassified images with beta < 0", f"{100 * b['negative_beta_misclassified']:.1f}%", "90.2%"],
        ["correctly classified images with beta < 0", f"{100 * b['negative_beta_correct']:.1f}%", "47.7%"],
    ]
    return table(["measure", "here (BAM SmallCNN)", "thesis (ImageNet ResNet50)"], rows)


def eval_failure_suppression() -> str:
    s = load("eval_failure")["suppression"]
    return table(
        ["measure", "images"], [[k.replace("_", " "), str(v)] for k, v in s.items() if k != "seconds"]
    )


def eval_video() -> str:
    d = load("eval_video")
    out = []
    for m, r in d["rows"].items():
        e = r["localisation_error"]
        t = d["thesis"].get(m)
        ref = f"{t[0]:.3f} / {t[1]:.3f} / {t[2][0]:.1f}, {t[2][1]:.1f}, {t[2][2]:.1f}" if t else ""
        out.append(
            [
                m,
                f"{r['deletion']:.3f}",
                f"{r['insertion']:.3f}",
                f"{e['value']:.1f} / {e['mean']:.1f} / {e['energy']:.1f}",
                f"{r['top5_on_object_frames']:.2f}",
                f"{r['seconds_per_clip']:.3f}",
                ref,
            ]
        )
    head = ["method", "deletion", "insertion", "loc. error % (value / mean / energy)", "top-5% on object"]
    head += ["s per clip", "thesis R(2+1)D: deletion / insertion / loc. error"]
    return table(head, out)


def fuzz() -> str:
    """Per op: valid cases equal to the references, invalid ones rejected naming the argument,
    invalid draws run as valid, and every failure kind (all should be 0)."""
    d = load("fuzz")
    ops = sorted({k.rsplit(" ", 1)[0] for k in d["by_op"]})
    failures = ("unnamed", "wrong_error", "accepted", "rejected_valid", "wrong", "disagree", "crash", "hang")
    out = []
    for op in ops:
        v, i = d["by_op"].get(f"{op} valid", {}), d["by_op"].get(f"{op} invalid", {})
        bad = sum(v.get(k, 0) + i.get(k, 0) for k in failures)
        out.append([op, f"{v.get('ok', 0):,}", f"{i.get('named', 0):,}", f"{i.get('ok', 0):,}", str(bad)])
    head = ["op", "valid: equal to the references", "invalid: rejected naming the argument"]
    return table(head + ["invalid draws run as valid", "failures"], out)


def soak() -> str:
    d = load("soak")
    g = d["growth_after_warmup"]
    return table(
        ["calls", "seconds", "RSS growth MiB", "threads", "fds", "two-thread calls", "differed", "errors"],
        [
            [
                f"{d['calls']:,}",
                str(d["seconds"]),
                f"{g['rss_mib']:+.1f}",
                f"{g['threads']:+d}",
                f"{g['fds']:+d}",
                str(d["threaded_calls"]),
                str(d["threaded_mismatches"]),
                str(len(d["threaded_errors"])),
            ]
        ],
    )


def check_methods() -> str:
    d = load("check_methods")
    rows = [
        [
            r["method"],
            r["layer"] or "",
            str(r["photos"]),
            str(len(r["constant"])),
            f"{r['min_range']:.3g}",
            f"{r['s_per_photo']:.2f}",
        ]
        for r in d["methods"]
    ]
    cold = sorted(d["first_explanation_s"])
    each = ", ".join(f"{c:.1f}" for c in cold)
    text = table(
        ["method", "layer", "photos", "constant heatmaps", "smallest heatmap range", "s per photo"], rows
    )
    return text + (
        f"\nFirst explanation from the command line (a fresh process: import, model, one photo, "
        f"SWAG_G): median {cold[len(cold) // 2]:.1f} s of {len(cold)} ({each}).\n"
    )


def eval_sanity() -> str:
    rows = load("eval_sanity")["rows"]
    layers = rows[0]["layers"]
    body = [[f"{i + 1}. {layer}"] + [f"{r['mean'][i]:.3f}" for r in rows] for i, layer in enumerate(layers)]
    return table(["randomised up to (cascading)", *(r["method"] for r in rows)], body)


VIEWS = {
    "eval_sanity": eval_sanity,
    "check_methods": check_methods,
    "fuzz": fuzz,
    "soak": soak,
    "eval_images:deletion": eval_images_deletion,
    "eval_images:localisation": eval_images_localisation,
    "eval_images:faithfulness": eval_images_faithfulness,
    "eval_bam": eval_bam,
    "eval_roar": eval_roar,
    "eval_bam:jitter": eval_bam_jitter,
    "eval_failure:t61": eval_failure_t61,
    "eval_failure:beta": eval_failure_beta,
    "eval_failure:suppression": eval_failure_suppression,
    "eval_video": eval_video,
}


def measured(name: str) -> str:
    """The line under a table: when, with which swagfast, on what machine it was measured."""
    m = load(name).get("machine", {})
    where = m.get("gpu") or f"{m.get('cores', '?')}-core {m.get('cpu', '?')}"
    torch_version = f", torch {m['torch']}" if "torch" in m else ""
    return (
        f"\n*Measured {m.get('date', '?')}, swagfast {m.get('swagfast', '?')} at {m.get('commit', '?')}, "
        f"{where}{torch_version}.*\n"
    )


def render(src: str) -> str:
    src = src.strip()
    name, _, view = src.partition(":")
    if src in VIEWS:
        text = VIEWS[src]()
    elif view and name.startswith("eval_images") and f"eval_images:{view}" in VIEWS:
        text = VIEWS[f"eval_images:{view}"](name)  # another eval_images run (--tag)
    else:
        text = rows_table(src)
    return text + measured(name)


def commands(text: str) -> list[list[str]]:
    """The script runs named in RESULTS.md's headings, in order (``python benchmarks/X.py ARGS``;
    a following backticked ``--ARGS`` reruns the same script), each once."""
    import shlex

    out: list[list[str]] = []
    for line in text.splitlines():
        if not line.startswith("#"):
            continue
        script = None
        for seg in re.findall(r"`([^`]+)`", line):
            m = re.match(r"(?:python\s+)?(?:benchmarks/)?(\w+\.py)(.*)", seg.strip())
            if m:
                script, args = m.group(1), m.group(2)
            elif seg.strip().startswith("--") and script:
                args = seg
            else:
                continue
            cmd = [script, *shlex.split(args)]
            if (HERE / script).is_file() and cmd not in out:
                out.append(cmd)
    return out


def needs_cuda(cmd: list[str]) -> bool:
    """A ``--device cuda`` run on a machine where torch sees no CUDA device."""
    if not any(a == "--device" and b.startswith("cuda") for a, b in zip(cmd, cmd[1:], strict=False)):
        return False
    import torch

    return not torch.cuda.is_available()


def regenerate(text: str) -> str:
    return MARK.sub(lambda m: m.group(1) + render(m.group("src")) + m.group(4), text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only check that RESULTS.md is current")
    parser.add_argument(
        "--run", action="store_true", help="rerun every benchmark and evaluation script first"
    )
    args = parser.parse_args()
    if args.run:
        import shlex
        import subprocess

        for cmd in commands(DOC.read_text()):
            print(f"== python benchmarks/{shlex.join(cmd)}", flush=True)
            if needs_cuda(cmd):
                print("report: skipped, no CUDA device here (benchmarks/gpu_check.sh runs it)", flush=True)
                continue
            if subprocess.run([sys.executable, *cmd], cwd=HERE).returncode != 0:
                print(f"report: {cmd[0]} failed", file=sys.stderr)
                return 1
    text = DOC.read_text()
    new = regenerate(text)
    n = len(MARK.findall(text))
    if args.check:
        if new != text:
            print(f"report: {DOC} differs from what benchmarks/results/ gives; run benchmarks/report.py")
            return 1
        print(f"report: {n} tables current")
        return 0
    tmp = DOC.with_name(f".{DOC.name}.tmp")
    tmp.write_text(new)
    tmp.replace(DOC)
    print(f"report: {n} tables regenerated in {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
