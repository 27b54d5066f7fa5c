"""Property-based fuzzing of the native-backed ops (used by ``tests/test_fuzz.py`` and
``benchmarks/fuzz.py``; needs the ``hypothesis`` test extra).

A *case* is a small dict drawn by :func:`cases` (hypothesis): an op, a host backend, a seed and
either no mutation (a valid input, built at random from the seed: shapes, dtypes, strides,
NaN/Inf values, empty batches) or one mutation that makes one argument invalid. Cases run in a
worker process (:class:`Worker`), so a crash (an abort, a segfault) or a hang is counted and the
run goes on. Each outcome is one of :data:`OUTCOMES`:

``ok``
    valid input, result equal to the numpy reference (``segment_pool``: float64 reference at
    the dtype's tolerance, NaN where the reference has NaN; ``accumulate_patches``: an explicit
    loop, exactly) and to the other host backend (SLIC: bit for bit, with the labels numbered
    0..n-1 in raster order of first appearance and, with connectivity enforced, each one
    connected component).
``named``
    invalid input rejected with TypeError / ValueError / MemoryError whose message names the
    mutated argument.
``unnamed``, ``wrong_error``, ``accepted``, ``rejected_valid``, ``wrong``, ``disagree``, ``crash``, ``hang``
    the failures: a rejection naming no argument, another exception type, an invalid input
    accepted, a valid one rejected, a result unlike the reference, backends that disagree,
    a dead worker, a case past its time limit.
"""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
from collections import Counter

import numpy as np

OPS = ("segment_pool", "slic", "supervoxels", "accumulate_patches")
OUTCOMES = (
    "ok",
    "named",
    "unnamed",
    "wrong_error",
    "accepted",
    "rejected_valid",
    "wrong",
    "disagree",
    "crash",
    "hang",
)
FAILURES = OUTCOMES[2:]

# mutation -> the argument its error must name
MUTATIONS = {
    "segment_pool": {
        "values_int": "values",
        "values_object": "values",
        "values_1d": "values",
        "values_5d": "values",
        "values_list": "values",
        "labels_float": "labels",
        "labels_bool": "labels",
        "labels_negative": "labels",
        "labels_shape": "labels",
        "labels_over_n": "n_segments",
        "labels_int64_huge": "labels",
        "n_segments_zero": "n_segments",
        "n_segments_float": "n_segments",
        "n_segments_huge": "n_segments",
        "n_segments_memory": "n_segments",
        "reduce_unknown": "reduce",
        "scatter_str": "scatter",
        "backend_unknown": "backend",
        "spatial_dims_4": "spatial_dims",
    },
    "slic": {
        "image_channels": "image",
        "image_nan": "image",
        "image_range": "image",
        "image_int16": "image",
        "image_object": "image",
        "n_segments_zero": "n_segments",
        "n_segments_over": "n_segments",
        "n_segments_float": "n_segments",
        "w_c_negative": "w_c",
        "w_g_nan": "w_g",
        "spacing_length": "spacing",
        "spacing_negative": "spacing",
        "mode_unknown": "mode",
        "gradient_nan": "gradient",
        "gradient_shape": "gradient",
        "max_num_iter_negative": "max_num_iter",
        "connectivity_unknown": "connectivity",
        "min_size_factor_negative": "min_size_factor",
        "enforce_str": "enforce_connectivity",
    },
    "accumulate_patches": {
        "maps_int": "maps",
        "maps_3d": "maps",
        "offsets_float": "offsets",
        "offsets_shape": "offsets",
        "offsets_negative": "offsets",
        "offsets_overflow": "offsets",
        "offsets_outside": "offsets",
        "out_shape_none": "out_shape",
        "out_shape_float": "out_shape",
        "out_shape_length": "out_shape",
        "out_shape_zero": "out_shape",
    },
}
MUTATIONS["supervoxels"] = {
    k.replace("image", "clip"): v.replace("image", "clip") for k, v in MUTATIONS["slic"].items()
}


def cases(backends: tuple[str, ...]):
    """The hypothesis strategy of case descriptions (plain dicts, so they cross to the worker)."""
    from hypothesis import strategies as st

    def for_op(op: str):
        return st.fixed_dictionaries(
            {
                "op": st.just(op),
                "backend": st.sampled_from(backends),
                "seed": st.integers(0, 2**32 - 1),
                "mutation": st.one_of(st.none(), st.sampled_from(sorted(MUTATIONS[op]))),
            }
        )

    return st.one_of(*(for_op(op) for op in OPS))


# ---- building and checking a case (in the worker) ---------------------------------------------


def _strided(rng, a: np.ndarray) -> np.ndarray:
    """``a`` itself, or an equal array that is a non-contiguous or negatively strided view."""
    k = rng.integers(3)
    if k == 1:
        wide = np.repeat(a, 2, axis=-1)
        return wide[..., ::2]
    if k == 2 and a.ndim >= 2:
        return np.ascontiguousarray(a[..., ::-1])[..., ::-1]
    return a


def _segment_pool_case(rng, mutation):
    import swagfast

    B = int(rng.integers(0, 4)) if rng.random() < 0.9 else 0
    spatial = tuple(int(s) for s in rng.integers(1, 9, size=int(rng.integers(2, 4))))
    dtype = rng.choice([np.float32, np.float64, np.float16])
    values = rng.normal(size=(B, *spatial)).astype(dtype)
    if values.size and rng.random() < 0.2:  # NaN and infinities are legal: they propagate
        flat = values.reshape(-1)
        flat[rng.integers(flat.size, size=2)] = rng.choice([np.nan, np.inf, -np.inf], size=2)
    n_max = int(rng.integers(1, 12))
    labels = rng.integers(0, n_max, size=values.shape)
    ldtype = rng.choice([np.int32, np.int64, np.int8, np.int16, np.uint8, np.uint16, np.uint32, np.uint64])
    labels = labels.astype(ldtype)
    kw = {"reduce": str(rng.choice(swagfast.superpixels.REDUCTIONS)), "scatter": bool(rng.random() < 0.7)}
    if len(spatial) == 3 and B == 0:
        spatial = spatial[:2]
        values, labels = values.reshape(0, *spatial), labels.reshape(0, *spatial)
    if rng.random() < 0.5:
        kw["n_segments"] = n_max + int(rng.integers(0, 3))
    values, labels = _strided(rng, values), _strided(rng, labels)
    m = mutation
    if B == 0 and m in ("labels_negative", "labels_over_n", "labels_int64_huge", "n_segments_memory"):
        return None  # an empty batch has no pixel to corrupt, and needs no memory
    if m == "values_int":
        values = np.nan_to_num(values.astype(np.float64), posinf=0, neginf=0).astype(np.int32)
    elif m == "values_object":
        values = values.astype(object)
    elif m == "values_1d":
        values, labels = values.reshape(-1), labels.reshape(-1)
    elif m == "values_5d":
        values, labels = values.reshape(1, 1, 1, 1, -1), labels.reshape(1, 1, 1, 1, -1)
    elif m == "values_list":
        values = values.tolist()
    elif m == "labels_float":
        labels = labels.astype(np.float32)
    elif m == "labels_bool":
        labels = labels > 0
    elif m == "labels_negative":
        labels = labels.astype(np.int32)
        labels.reshape(-1)[rng.integers(labels.size)] = -int(rng.integers(1, 2**31))
    elif m == "labels_shape":
        labels = labels[..., :-1] if labels.shape[-1] > 1 else np.concatenate([labels, labels], -1)
    elif m == "labels_over_n":
        labels = labels.astype(np.int64)
        kw["n_segments"] = n_max
        labels.reshape(-1)[rng.integers(labels.size)] = n_max + int(rng.integers(0, 2**20))
    elif m == "labels_int64_huge":
        labels = labels.astype(np.int64)
        labels.reshape(-1)[rng.integers(labels.size)] = int(rng.integers(2**31, 2**62))
    elif m == "n_segments_zero":
        kw["n_segments"] = -int(rng.integers(0, 5))
    elif m == "n_segments_float":
        kw["n_segments"] = float(n_max)
    elif m == "n_segments_huge":
        kw["n_segments"] = int(rng.integers(2**31 + 1, 2**62))
    elif m == "n_segments_memory":
        kw["n_segments"] = 2**31
    elif m == "reduce_unknown":
        kw["reduce"] = str(rng.choice(["median", "MEAN", "", "prod"]))
    elif m == "scatter_str":
        kw["scatter"] = "yes"
    elif m == "backend_unknown":
        kw["backend_override"] = str(rng.choice(["tpu", "CPU", "gpu"]))
    elif m == "spatial_dims_4":
        kw["spatial_dims"] = 4
    return values, labels, kw


def _check_segment_pool(values, labels, kw, backend):
    import swagfast
    from swagfast.testing import segment_pool_reference

    kw = dict(kw)
    be = kw.pop("backend_override", backend)
    got = swagfast.segment_pool(values, labels, backend=be, **kw)
    v = np.asarray(values)
    batched = v.ndim in (3, 4)
    vb = v if batched else v[None]
    lb = np.asarray(labels).astype(np.int64)
    lb = lb if batched else lb[None]
    n = kw.get("n_segments", int(lb.max()) + 1 if lb.size else 0)
    N = int(np.prod(vb.shape[1:]))
    ref = segment_pool_reference(vb.reshape(len(vb), N), lb.reshape(len(lb), N), kw["reduce"], n)
    seg = np.asarray(got.segment_values)
    seg = seg if batched else seg[None]
    work = np.float32 if v.dtype == np.float16 else v.dtype
    tol = 1e-4 if work == np.float32 else 1e-10
    if seg.dtype != work or seg.shape != ref.shape:
        return "wrong"
    with np.errstate(invalid="ignore", over="ignore"):
        if not np.allclose(seg, ref.astype(work), rtol=tol, atol=tol, equal_nan=True):
            return "wrong"
        if kw["scatter"]:
            pix = np.asarray(got.pixel_values).reshape(len(vb), N)
            want = np.take_along_axis(seg.reshape(len(vb), n), lb.reshape(len(lb), N), axis=1) if n else pix
            if not np.array_equal(pix, want, equal_nan=True):
                return "wrong"
        elif got.pixel_values is not None:
            return "wrong"
    return "ok"


def _slic_case(rng, mutation, dims: int):
    what = "image" if dims == 2 else "clip"
    B = None if rng.random() < 0.4 else int(rng.integers(0, 3))
    vox = tuple(int(s) for s in rng.integers(1, 13 if dims == 2 else 7, size=dims))
    mode = str(rng.choice(["I", "G", "I+G"]))
    lead = () if B is None else (B,)
    if rng.random() < 0.5:
        image = rng.integers(0, 256, size=(*lead, *vox, 3)).astype(np.uint8)
    else:
        image = rng.random((*lead, *vox, 3)).astype(rng.choice([np.float32, np.float64]))
    gradient = rng.normal(size=(*lead, *vox)).astype(np.float32)
    n_vox = int(np.prod(vox))
    kw = {
        "n_segments": int(rng.integers(1, n_vox + 1)),
        "mode": mode,
        "w_c": float(rng.uniform(0.5, 40)),
        "w_g": float(rng.uniform(0.5, 40)),
        "max_num_iter": int(rng.integers(0, 6)),
        "enforce_connectivity": bool(rng.random() < 0.7),
        "connectivity": str(rng.choice(["raster", "parallel"])),
        "min_size_factor": float(rng.uniform(0, 1)),
        "spacing": tuple(float(s) for s in rng.uniform(0.2, 5, size=dims)) if rng.random() < 0.3 else None,
    }
    if mode == "G":
        image = None
    else:
        image = _strided(rng, image)
    if mode == "I":
        gradient = None
    m = mutation.replace("clip", "image") if mutation else None
    colour = mode != "G"
    if m is not None and m.startswith("image") and not colour:
        return None
    if m is not None and m.startswith("gradient") and mode == "I":
        return None
    if m == "gradient_shape" and mode != "I+G":  # in mode G the gradient sets the shape
        return None
    if m in ("gradient_nan", "image_nan", "image_range") and B == 0:  # no pixel to corrupt
        return None
    if m == "image_channels":
        image = np.concatenate([image, image[..., :1]], axis=-1)
    elif m == "image_nan":
        image = image.astype(np.float32)
        image.reshape(-1)[rng.integers(image.size)] = np.nan
    elif m == "image_range":
        image = image.astype(np.float32) * 255 + 2
    elif m == "image_int16":
        image = image.astype(np.int16)
    elif m == "image_object":
        image = image.astype(object)
    elif m == "n_segments_zero":
        kw["n_segments"] = -int(rng.integers(0, 3))
    elif m == "n_segments_over":
        kw["n_segments"] = n_vox + int(rng.integers(1, 100))
    elif m == "n_segments_float":
        kw["n_segments"] = float(kw["n_segments"])
    elif m == "w_c_negative":
        kw["w_c"] = -kw["w_c"]
    elif m == "w_g_nan":
        kw["w_g"] = float("nan")
    elif m == "spacing_length":
        kw["spacing"] = (1.0,) * (dims + 1)
    elif m == "spacing_negative":
        kw["spacing"] = (-1.0,) + (1.0,) * (dims - 1)
    elif m == "mode_unknown":
        kw["mode"] = str(rng.choice(["IG", "i", "G+I"]))
    elif m == "gradient_nan":
        gradient.reshape(-1)[rng.integers(gradient.size)] = rng.choice([np.nan, np.inf])
    elif m == "gradient_shape":
        gradient = gradient[..., :-1] if gradient.shape[-1] > 1 else np.concatenate([gradient] * 2, -1)
    elif m == "max_num_iter_negative":
        kw["max_num_iter"] = -1
    elif m == "connectivity_unknown":
        kw["connectivity"] = "fast"
    elif m == "min_size_factor_negative":
        kw["min_size_factor"] = -0.5
    elif m == "enforce_str":
        kw["enforce_connectivity"] = "no"
    return image, gradient, kw, what


def _check_slic(image, gradient, kw, what, backend, dims):
    import swagfast
    from swagfast.testing import connected_segment_count

    fn = swagfast.slic if dims == 2 else swagfast.supervoxels
    got = np.asarray(fn(image, gradient=gradient, backend=backend, **kw))
    other = "numba" if backend == "cpu" else "cpu"
    if swagfast.backends()[other].available:
        if not np.array_equal(got, np.asarray(fn(image, gradient=gradient, backend=other, **kw))):
            return "disagree"
    items = got.reshape(-1, *got.shape[-dims:]) if got.ndim == dims + 1 else got[None]
    for lab in items:
        flat = lab.reshape(-1)
        _, first = np.unique(flat, return_index=True)
        n = len(first)
        if flat.min() != 0 or flat.max() != n - 1:  # numbered 0..n-1 ...
            return "wrong"
        if not np.array_equal(flat[np.sort(first)], np.arange(n)):  # ... in order of first appearance
            return "wrong"
        if kw["enforce_connectivity"] and connected_segment_count(lab) != n:
            return "wrong"
    return "ok"


def _patches_case(rng, mutation):
    dims = int(rng.integers(2, 4))
    B, P = int(rng.integers(0, 3)), int(rng.integers(1, 5))
    patch = tuple(int(s) for s in rng.integers(1, 5, size=dims))
    out_shape = tuple(int(p + rng.integers(0, 5)) for p in patch)
    maps = rng.normal(size=(B, P, *patch)).astype(rng.choice([np.float32, np.float64]))
    offsets = np.stack([rng.integers(0, o - p + 1, size=P) for o, p in zip(out_shape, patch, strict=True)], 1)
    offsets = offsets.astype(rng.choice([np.int64, np.int32, np.int16, np.uint8]))
    m = mutation
    if m == "maps_int":
        maps = maps.astype(np.int32)
    elif m == "maps_3d":
        maps = maps.reshape(-1, *patch[-2:]) if maps.size else maps.reshape(0, 1, 1)
    elif m == "offsets_float":
        offsets = offsets.astype(np.float64)
    elif m == "offsets_shape":
        offsets = offsets[:, :-1]
    elif m == "offsets_negative":
        offsets = offsets.astype(np.int64)
        offsets[rng.integers(P), rng.integers(dims)] = -int(rng.integers(1, 2**40))
    elif m == "offsets_overflow":
        offsets = offsets.astype(np.int64)
        offsets[rng.integers(P), rng.integers(dims)] = 2**63 - 1 - int(rng.integers(0, 3))
    elif m == "offsets_outside":
        offsets = offsets.astype(np.int64)
        d = int(rng.integers(dims))
        offsets[rng.integers(P), d] = out_shape[d] - patch[d] + int(rng.integers(1, 4))
    elif m == "out_shape_none":
        out_shape = None
    elif m == "out_shape_float":
        out_shape = tuple(float(s) for s in out_shape)
    elif m == "out_shape_length":
        out_shape = (*out_shape, 3)
    elif m == "out_shape_zero":
        out_shape = (0,) + out_shape[1:]
    return maps, offsets, out_shape


def _check_patches(maps, offsets, out_shape, backend):
    import swagfast

    J, C = swagfast.accumulate_patches(maps, offsets, out_shape, backend=backend)
    B, P = maps.shape[:2]
    refJ = np.zeros((B, *out_shape), maps.dtype)
    refC = np.zeros((B, *out_shape), maps.dtype)
    for p in range(P):
        sl = tuple(slice(int(o), int(o) + s) for o, s in zip(offsets[p], maps.shape[2:], strict=True))
        refJ[(slice(None), *sl)] += maps[:, p]
        refC[(slice(None), *sl)] += 1
    if J.dtype != maps.dtype or not np.allclose(J, refJ, rtol=1e-6, atol=1e-6) or not np.array_equal(C, refC):
        return "wrong"
    return "ok"


def run_case(case: dict) -> tuple[str, str]:
    """One case's (outcome, detail: the error's message where there was one), in this process
    (the worker calls it)."""
    rng = np.random.default_rng(case["seed"])
    op, backend, mutation = case["op"], case["backend"], case["mutation"]
    if op == "segment_pool":
        built = _segment_pool_case(rng, mutation)
        check = (lambda: _check_segment_pool(*built, backend)) if built else None
    elif op in ("slic", "supervoxels"):
        dims = 2 if op == "slic" else 3
        built = _slic_case(rng, mutation, dims)
        check = (lambda: _check_slic(*built, backend, dims)) if built else None
    else:
        built = _patches_case(rng, mutation)
        check = (lambda: _check_patches(*built, backend)) if built else None
    if check is None:  # the mutation does not apply to this draw: checked as the valid input
        case = dict(case, mutation=None)
        return run_case(case) if mutation is not None else ("ok", "")
    try:
        outcome = check()
    except (TypeError, ValueError, MemoryError) as err:
        detail = f"{type(err).__name__}: {err}"
        if mutation is None:
            return "rejected_valid", detail
        return ("named" if MUTATIONS[op][mutation] in str(err) else "unnamed"), detail
    except Exception as err:  # noqa: BLE001 - any other exception is a finding
        return "wrong_error", f"{type(err).__name__}: {err}"
    return ("accepted" if mutation is not None else outcome), ""


# ---- the isolated worker ------------------------------------------------------------------------


def _send(stream, obj) -> None:
    data = pickle.dumps(obj)
    stream.write(struct.pack("<I", len(data)) + data)
    stream.flush()


def _receive(stream):
    head = stream.read(4)
    if len(head) < 4:
        return None
    (size,) = struct.unpack("<I", head)
    return pickle.loads(stream.read(size))


SERVE = "from swagfast._fuzz import _serve; _serve()"


class Worker:
    """A child process running cases one at a time; a case that kills it (or runs past
    ``timeout`` seconds) is a ``crash`` (``hang``) and a new child takes over."""

    def __init__(
        self, timeout: float = 120.0, program: str = "from swagfast._fuzz import _serve; _serve()"
    ) -> None:
        self.timeout, self.program = timeout, program  # program: the child's Python code
        self.proc: subprocess.Popen | None = None

    def _start(self) -> None:
        import swagfast

        env = dict(os.environ, PYTHONWARNINGS="ignore")
        self.proc = subprocess.Popen(  # run where it imports the same swagfast as this process
            [sys.executable, "-c", self.program],
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(swagfast.__file__))),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )

    def run(self, case: dict) -> tuple[str, str]:
        """(outcome, detail)."""
        import select

        if self.proc is None or self.proc.poll() is not None:
            self.close()
            self._start()
        try:
            _send(self.proc.stdin, case)
            ready, _, _ = select.select([self.proc.stdout], [], [], self.timeout)
            if not ready:
                self.close()
                return "hang", f"no answer in {self.timeout:g} s"
            reply = _receive(self.proc.stdout)
        except (BrokenPipeError, EOFError, pickle.UnpicklingError):
            reply = None
        if reply is None:
            code = self.proc.wait()
            self.close()
            return "crash", f"the worker died (exit status {code})"
        return reply

    def close(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            for pipe in (self.proc.stdin, self.proc.stdout):
                try:
                    pipe.close()
                except OSError:
                    pass
            self.proc = None


def _serve() -> None:
    """The worker's loop: read a case, answer (outcome, detail)."""
    import warnings

    warnings.simplefilter("ignore")
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while (case := _receive(stdin)) is not None:
        _send(stdout, run_case(case))


def tally(outcomes) -> Counter:
    """Counts of each outcome (every one of :data:`OUTCOMES` present, 0 where none)."""
    counts = Counter({k: 0 for k in OUTCOMES})
    counts.update(outcomes)
    return counts
