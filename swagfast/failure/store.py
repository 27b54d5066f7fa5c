"""The on-disk format of a :class:`~swagfast.failure.FilterStats` store: its files, the writer
that appends score rows per class, the finalisation that sorts them and writes the summaries and
checksums, and the checked reads.

    meta.json                 format, version, K, classes, method, layer, counts, quantiles,
                              the SHA-256 of every other file, and a digest of itself
    scores/cNNNNN.f32         (n_c, K) float32, C order, rows sorted by sample index
    scores/cNNNNN.i64         (n_c,) int64 sample indices
    mean.npy                  (C, K) float64
    quantiles.npy             (len(quantiles), C, K) float64
    top_values.npy            (K, m) float32   highest mean activations per filter
    top_index.npy             (K, m) int64     their sample indices (-1 where fewer than m)

Every file's size, dtype, shape and SHA-256 and the meta.json digest are checked on load and
again whenever a class's scores are read; a store that fails any check is a ValueError naming the
file. Scores are read into memory (one class at a time), not memory-mapped, so a file truncated
while the store is open is an error on its next read rather than a fault.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from swagfast.failure.scores import METHODS

FORMAT = "swagfast.FilterStats"
VERSION = 2  # 2: checksums and the meta.json digest


def class_name(c: int, ext: str) -> str:
    return f"c{c:05d}.{ext}"


def class_file(root: Path, c: int, ext: str) -> Path:
    return root / "scores" / class_name(c, ext)


def score_file_sizes(root: Path) -> dict[str, int]:
    """Bytes in each file of the store's ``scores`` folder, from one scan of the folder (a store
    has two files per class: one scan instead of a stat of each)."""
    try:
        with os.scandir(root / "scores") as entries:
            return {e.name: e.stat().st_size for e in entries if e.is_file()}
    except FileNotFoundError:
        return {}


def top_merge(values: np.ndarray, index: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Keep the m largest values per row (ties: lower sample index first); -1 pads empty slots."""
    K, n = values.shape
    v = np.where(index >= 0, values, -np.inf)
    # lexsort: last key is primary -> sort by -value, then by index (with padding last)
    idx_key = np.where(index >= 0, index, np.iinfo(np.int64).max)
    order = np.lexsort((idx_key, -v), axis=1)[:, :m]
    out_v = np.take_along_axis(values, order, axis=1).astype(np.float32)
    out_i = np.take_along_axis(index, order, axis=1).astype(np.int64)
    if out_v.shape[1] < m:
        pad = m - out_v.shape[1]
        out_v = np.concatenate([out_v, np.zeros((K, pad), np.float32)], axis=1)
        out_i = np.concatenate([out_i, np.full((K, pad), -1, np.int64)], axis=1)
    out_v[out_i < 0] = 0.0
    return out_v, out_i


class Writer:
    """Appends score rows per class to the store, buffering at most ``buffer_rows`` rows in RAM."""

    def __init__(self, root: Path, num_classes: int, top_k: int, buffer_rows: int) -> None:
        self.root = root
        (root / "scores").mkdir(parents=True, exist_ok=True)
        self.C, self.m, self.limit = num_classes, top_k, buffer_rows
        self.K: int | None = None
        self.pending: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
        self.npending = 0
        self.count = np.zeros(num_classes, np.int64)
        self.top_v: np.ndarray | None = None
        self.top_i: np.ndarray | None = None

    def add(self, labels: np.ndarray, index: np.ndarray, scores: np.ndarray, act: np.ndarray) -> None:
        if self.K is None:
            self.K = scores.shape[1]
            self.top_v = np.zeros((self.K, 0), np.float32)
            self.top_i = np.zeros((self.K, 0), np.int64)
        elif scores.shape[1] != self.K:
            raise ValueError(f"the layer gave {scores.shape[1]} filters after {self.K} in earlier batches")
        for c in np.unique(labels):
            sel = labels == c
            self.pending.setdefault(int(c), []).append((index[sel], scores[sel]))
            self.count[c] += int(sel.sum())
        self.npending += len(labels)
        bi = np.broadcast_to(index, (self.K, len(index)))
        self.top_v, self.top_i = top_merge(
            np.concatenate([self.top_v, act.T.astype(np.float32)], axis=1),
            np.concatenate([self.top_i, bi], axis=1),
            self.m,
        )
        if self.npending >= self.limit:
            self.flush()

    def flush(self) -> None:
        for c, parts in self.pending.items():
            with (
                open(class_file(self.root, c, "i64"), "ab") as fi,
                open(class_file(self.root, c, "f32"), "ab") as fs,
            ):
                for idx, sc in parts:
                    fi.write(np.ascontiguousarray(idx, np.int64).tobytes())
                    fs.write(np.ascontiguousarray(sc, np.float32).tobytes())
        self.pending.clear()
        self.npending = 0


def read_class(root: Path, c: int, K: int) -> tuple[np.ndarray, np.ndarray]:
    """(indices (n_c,), scores (n_c, K)) of class ``c`` as read from disk (no checks)."""
    fi, fs = class_file(root, c, "i64"), class_file(root, c, "f32")
    if not fi.exists() or fi.stat().st_size == 0:
        return np.zeros(0, np.int64), np.zeros((0, K), np.float32)
    idx = np.fromfile(fi, dtype=np.int64)
    sc = np.fromfile(fs, dtype=np.float32)
    if sc.size != len(idx) * K:
        raise ValueError(f"scores/{fs.name} holds {sc.size} values, {len(idx)} samples need {len(idx) * K}")
    return idx, sc.reshape(len(idx), K)


def sha256(data) -> str:
    return hashlib.sha256(memoryview(data).cast("B")).hexdigest()


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, streamed in 1 MiB reads."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def meta_digest(meta: dict) -> str:
    """SHA-256 of meta.json's content other than the digest itself (keys sorted)."""
    body = {k: v for k, v in meta.items() if k != "digest"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def save_npy(root: Path, name: str, a: np.ndarray, sums: dict[str, str]) -> None:
    np.save(root / name, a)
    sums[name] = file_sha256(root / name)


def finalise(root: Path, meta: dict, top_v: np.ndarray, top_i: np.ndarray) -> None:
    """Sort each class's rows by sample index, then write the means, quantiles, top-m and the
    meta.json with every file's checksum and its own digest (last: a store without it is no
    store)."""
    C, K, qs = meta["num_classes"], meta["num_filters"], meta["quantiles"]
    mean = np.full((C, K), np.nan)
    quant = np.full((len(qs), C, K), np.nan)
    count = np.zeros(C, np.int64)
    sums: dict[str, str] = {}
    sizes = score_file_sizes(root)
    for c in range(C):
        if not sizes.get(class_name(c, "i64")):
            continue  # no rows of this class
        idx, sc = read_class(root, c, K)
        if (idx[1:] <= idx[:-1]).any():  # not already in increasing index order: sort, rewrite
            order = np.argsort(idx, kind="stable")
            idx, sc = idx[order], np.ascontiguousarray(sc[order])
            dup = idx[1:] == idx[:-1]
            if dup.any():
                raise ValueError(
                    f"sample index {int(idx[1:][dup][0])} occurs twice in class {c}: shards must hold "
                    "disjoint samples (give each shard its own index_offset)"
                )
            idx.tofile(class_file(root, c, "i64"))
            sc.tofile(class_file(root, c, "f32"))
        sums[f"scores/{class_name(c, 'i64')}"] = sha256(idx)
        sums[f"scores/{class_name(c, 'f32')}"] = sha256(sc)
        count[c] = len(idx)
        mean[c] = sc.astype(np.float64).mean(axis=0)
        quant[:, c] = np.percentile(sc.astype(np.float64), qs, axis=0)
        del sc
    save_npy(root, "mean.npy", mean, sums)
    save_npy(root, "quantiles.npy", quant, sums)
    save_npy(root, "top_values.npy", np.asarray(top_v, np.float32), sums)
    save_npy(root, "top_index.npy", np.asarray(top_i, np.int64), sums)
    meta = {k: v for k, v in meta.items() if k not in ("checksums", "digest")}
    meta = dict(meta, count=count.tolist(), version=VERSION, checksums=dict(sorted(sums.items())))
    meta["digest"] = meta_digest(meta)
    (root / "meta.json").write_text(json.dumps(meta, indent=1))


META_KEYS = (
    "num_classes",
    "num_filters",
    "method",
    "layer",
    "score",
    "quantiles",
    "count",
    "top_k",
    "checksums",
    "digest",
)
# what each array file must hold: dtype, and its shape from (C, K, m, number of quantiles)
ARRAYS = {
    "mean.npy": (np.float64, lambda C, K, m, Q: (C, K)),
    "quantiles.npy": (np.float64, lambda C, K, m, Q: (Q, C, K)),
    "top_values.npy": (np.float32, lambda C, K, m, Q: (K, m)),
    "top_index.npy": (np.int64, lambda C, K, m, Q: (K, m)),
}


def damaged(root: Path, why: str) -> ValueError:
    return ValueError(f"{str(root)!r} is not a readable FilterStats store: {why}")


def read_meta(root: Path) -> dict:
    """meta.json of a store, checked: the format, version, every key and the counts' length."""
    try:
        meta = json.loads((root / "meta.json").read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise damaged(root, f"meta.json: {err}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{str(root)!r} is not a FilterStats store (no {FORMAT} meta.json)")
    if meta.get("version") != VERSION:
        raise ValueError(f"FilterStats store version {meta.get('version')} is not supported (need {VERSION})")
    missing = [k for k in META_KEYS if k not in meta]
    if missing:
        raise damaged(root, f"meta.json lacks {', '.join(missing)}")
    ints = ("num_classes", "num_filters", "top_k")
    if any(isinstance(meta[k], bool) or not isinstance(meta[k], int) or meta[k] < 1 for k in ints):
        raise damaged(root, f"meta.json's {', '.join(ints)} must be positive ints")
    count = meta["count"]
    if not isinstance(count, list) or len(count) != meta["num_classes"]:
        raise damaged(root, f"meta.json's count must list {meta['num_classes']} classes")
    if any(isinstance(n, bool) or not isinstance(n, int) or n < 0 for n in count):
        raise damaged(root, "meta.json's count must hold ints >= 0")
    qs = meta["quantiles"]
    if (
        not isinstance(qs, list)
        or not qs
        or any(isinstance(q, bool) or not isinstance(q, int | float) or not 0 <= q <= 100 for q in qs)
        or any(b <= a for a, b in zip(qs, qs[1:], strict=False))
    ):
        raise damaged(root, f"meta.json's quantiles must be ascending percentages, got {qs!r}")
    if (
        meta["method"] not in METHODS
        or meta["score"] not in ("logit", "softmax")
        or not isinstance(meta["layer"], str)
    ):
        raise damaged(root, "meta.json's method, score or layer is not one swagfast writes")
    sums = meta["checksums"]
    if not isinstance(sums, dict) or not all(isinstance(v, str) for v in sums.values()):
        raise damaged(root, "meta.json's checksums must map file names to SHA-256 digests")
    if meta["digest"] != meta_digest(meta):
        raise damaged(root, "meta.json was changed after the store was written (its digest does not match)")
    return meta


def verify(root: Path, meta: dict, name: str, data=None) -> None:
    """ValueError unless the file ``name`` (or its bytes ``data``, already read) has the
    SHA-256 that meta.json records for it."""
    want = meta["checksums"].get(name)
    if want is None:
        raise damaged(root, f"meta.json records no checksum for {name}")
    try:
        got = sha256(data) if data is not None else file_sha256(root / name)
    except OSError as err:
        raise damaged(root, f"{name}: {err}") from None
    if got != want:
        raise damaged(root, f"{name} was changed after the store was written (its SHA-256 does not match)")


def load_array(root: Path, meta: dict, name: str, shape: tuple[int, ...]) -> np.ndarray:
    try:
        a = np.load(root / name, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise damaged(root, f"{name}: {err}") from None
    if a.shape != shape:
        raise damaged(root, f"{name} has shape {a.shape}, the meta.json says {shape}")
    dtype = ARRAYS[name][0]
    if a.dtype != dtype:
        raise damaged(root, f"{name} has dtype {a.dtype}, a store holds {np.dtype(dtype)}")
    verify(root, meta, name)
    return a


def new_root(directory: str | os.PathLike | None) -> tuple[Path, bool, bool]:
    """(root, temporary, created): a temporary folder, or the empty or absent ``directory``."""
    if directory is None:
        return Path(tempfile.mkdtemp(prefix="swagfast-filterstats-")), True, True
    root = Path(directory)
    if root.exists() and any(root.iterdir()):
        raise ValueError(f"directory must be empty or absent, got {str(root)!r} which holds files")
    created = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    return root, False, created


def discard(root: Path, created: bool) -> None:
    """Undo a failed fit or merge: a folder it created goes, a folder the caller had is emptied."""
    shutil.rmtree(root, ignore_errors=True) if created else clear(root)


def clear(root: Path) -> None:
    """Remove what a failed fit wrote into a user-named directory (the folder itself stays)."""
    for child in root.iterdir() if root.exists() else ():
        shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink(missing_ok=True)
