"""Per (class, filter) distributions of filter scores over a training set (thesis 6.2.3).

:class:`FilterStats` streams a dataset through the model once and keeps, for every class ``c``,
the (n_c, K) matrix of the filter scores of the images labelled ``c`` in a file on disk (rows in
sample-index order, so the store is canonical), plus a running top-m per filter of the images
whose mean activation is highest. Means and percentiles are computed from the stored matrices one
class at a time, so they are exact and the memory in use is bounded by the largest class (plus
``buffer_rows`` buffered rows), not by the dataset. Two stores of disjoint samples merge into
exactly the store a single fit over both would have made, whatever the order (that is how shards
fitted on different machines, or by :meth:`FilterStats.fit_ray`, are combined).

The on-disk format, its checksums and its checked reads are :mod:`swagfast.failure.store`; the
Ray Data actors are :mod:`swagfast.failure.ray_fit`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from swagfast._validate import check_int, check_score, forwarded_options, with_options_of
from swagfast.attribution.layers import resolve_layer
from swagfast.failure import store
from swagfast.failure.scores import METHODS, check_method, score_batch
from swagfast.viz import created_mode

DEFAULT_QUANTILES = (0.1, 99.9)


def layer_name(model: nn.Module, layer: nn.Module | str) -> str:
    """The dotted name of ``layer`` in ``model`` (what is stored, and what Ray workers resolve)."""
    if isinstance(layer, str):
        resolve_layer(model, layer)
        return layer
    layer = resolve_layer(model, layer)
    for name, module in model.named_modules():
        if module is layer:
            return name
    raise ValueError("layer must be a submodule of the model")  # pragma: no cover - resolve_layer checked


def _check_stats_method(method: str, score: str) -> None:
    check_method(method)
    if method == "random":
        raise ValueError("method='random' has no training distribution to fit; pick a scoring method")
    check_score(score)


def _check_quantiles(quantiles: Sequence[float]) -> tuple[float, ...]:
    """The percentages, ascending and without repeats (the order they are stored in)."""
    if isinstance(quantiles, str | bytes) or not isinstance(quantiles, Sequence | np.ndarray):
        raise TypeError(f"quantiles must be a sequence of percentages, got {quantiles!r}")
    try:
        qs = tuple(float(q) for q in quantiles)
    except (TypeError, ValueError):
        raise TypeError(f"quantiles must be a sequence of percentages, got {quantiles!r}") from None
    if not qs or any(not (0.0 <= q <= 100.0) for q in qs):
        raise ValueError(f"quantiles must be percentages in [0, 100], got {quantiles!r}")
    return tuple(sorted(set(qs)))


def _unpack(batch, num_classes: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    if isinstance(batch, dict):
        x, y, idx = batch.get("image"), batch.get("label"), batch.get("index")
    elif isinstance(batch, (tuple, list)) and len(batch) in (2, 3):
        x, y = batch[0], batch[1]
        idx = batch[2] if len(batch) == 3 else None
    else:
        raise TypeError(
            "data must yield (images, labels) or (images, labels, indices) batches, got "
            f"{type(batch).__name__}"
        )
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(np.asarray(x))
    y = torch.as_tensor(np.asarray(y.cpu() if isinstance(y, torch.Tensor) else y))
    if y.dtype == torch.bool or y.dtype.is_floating_point or y.dtype.is_complex:
        raise TypeError(f"labels must be integer class indices, got dtype {y.dtype}")
    y = y.long().reshape(-1)
    if len(y) != len(x):
        raise ValueError(f"labels must have one entry per image: {len(x)} images, {len(y)} labels")
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise ValueError(
            f"labels must lie in [0, num_classes={num_classes}), got {int(y.min())}..{int(y.max())}"
        )
    if idx is not None:
        idx = (
            torch.as_tensor(np.asarray(idx.cpu() if isinstance(idx, torch.Tensor) else idx))
            .long()
            .reshape(-1)
        )
        if len(idx) != len(x):
            raise ValueError(f"indices must have one entry per image: {len(x)} images, {len(idx)} indices")
    return x, y, idx


_STORE_OPTIONS = (
    "num_classes",
    "method",
    "score",
    "quantiles",
    "top_k",
    "directory",
    "index_offset",
    "buffer_rows",
    "progress",
)


def _store_options(call: dict) -> dict:
    """The options of the store a :meth:`FilterStats.fit` / ``fit_ray`` call writes, from its
    arguments."""
    return {name: call[name] for name in _STORE_OPTIONS}


class FilterStats:
    """Training-set distributions of filter scores per (class, filter) (thesis 6.2.3).

    Build with :meth:`fit` (a loop over any iterable of batches), :meth:`fit_ray` (Ray Data),
    :meth:`merge` or :meth:`load`; do not call the constructor directly.

    Attributes
    ----------
    num_classes, num_filters : int
    method, layer, score : str
        How the scores were made (``method`` is one of :data:`swagfast.failure.METHODS`).
    count : (C,) int64
        Training images per class.
    mean : (C, K) float64
        ``mu_cn``; NaN for classes with no images.
    top_values, top_index : (K, m)
        Per filter, the m highest mean activations over the whole set and their sample indices
        (-1 where fewer than m images were seen), kept during the fit (thesis Fig. 6.10).
    """

    def __init__(self, root: Path, *, _temporary: bool = False, _written: bool = False) -> None:
        self.root = Path(root)
        meta = store.read_meta(self.root)
        self.meta = meta
        self.num_classes: int = meta["num_classes"]
        self.num_filters: int = meta["num_filters"]
        self.method: str = meta["method"]
        self.layer: str = meta["layer"]
        self.score: str = meta["score"]
        self.quantiles: tuple[float, ...] = tuple(meta["quantiles"])
        self.count = np.asarray(meta["count"], np.int64)
        C, K, m, Q = self.num_classes, self.num_filters, meta["top_k"], len(self.quantiles)
        arrays = {
            name: store.load_array(self.root, meta, name, shape(C, K, m, Q))
            for name, (_, shape) in store.ARRAYS.items()
        }
        self.mean, self._quant = arrays["mean.npy"], arrays["quantiles.npy"]
        self.top_values, self.top_index = arrays["top_values.npy"], arrays["top_index.npy"]
        sizes = store.score_file_sizes(self.root)
        for c in range(C):  # the scores on disk must hold exactly the rows the counts say
            for ext, row in (("i64", 8), ("f32", 4 * K)):
                name = store.class_name(c, ext)
                size = sizes.get(name, 0)
                if size != self.count[c] * row:
                    raise store.damaged(
                        self.root,
                        f"scores/{name} holds {size} bytes, {self.count[c]} samples of class {c} need "
                        f"{self.count[c] * row}",
                    )
        # and the very rows written: checksums, indices in increasing order (a store this process
        # has just finalised was hashed from the rows it wrote: not read back a second time)
        if not _written:
            for c in np.flatnonzero(self.count):
                self.class_scores(int(c))
        self._cache: dict[float, np.ndarray] = {q: self._quant[i] for i, q in enumerate(self.quantiles)}
        self._temporary = _temporary
        if _temporary:
            self._finalizer = weakref.finalize(self, shutil.rmtree, str(self.root), True)

    # -- queries -------------------------------------------------------------------------------

    def __repr__(self) -> str:
        return (
            f"FilterStats(classes={self.num_classes}, filters={self.num_filters}, "
            f"images={int(self.count.sum())}, "
            f"method={self.method!r}, layer={self.layer!r}, root={str(self.root)!r})"
        )

    def percentile(self, q: float) -> np.ndarray:
        """``P_cn(q)`` as a (C, K) float64 array (numpy's linear interpolation, exact).

        The quantiles named at fit time are precomputed; any other is computed from the store,
        one class in memory at a time.
        """
        q = _check_quantiles([q])[0]
        if q not in self._cache:
            out = np.full((self.num_classes, self.num_filters), np.nan)
            for c in range(self.num_classes):
                _, sc = self.class_scores(c)
                if len(sc):
                    out[c] = np.percentile(np.asarray(sc, np.float64), q, axis=0)
            self._cache[q] = out
        return self._cache[q]

    def class_scores(self, c: int) -> tuple[np.ndarray, np.ndarray]:
        """(indices (n_c,), scores (n_c, K)) of class ``c``, read from the store (into memory,
        a fresh copy) and checked against the checksums written with it: ValueError if the files
        changed since (truncated, edited, reordered)."""
        if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or not 0 <= c < self.num_classes:
            raise ValueError(f"c must be a class index in [0, {self.num_classes}), got {c!r}")
        c, n = int(c), int(self.count[c])
        if n == 0:
            return np.zeros(0, np.int64), np.zeros((0, self.num_filters), np.float32)
        try:
            idx, sc = store.read_class(self.root, c, self.num_filters)
        except (OSError, ValueError) as err:
            raise store.damaged(self.root, f"class {c}: {err}") from None
        if len(idx) != n:
            raise store.damaged(
                self.root, f"scores/{store.class_name(c, 'i64')} holds {len(idx)} samples, meta.json {n}"
            )
        store.verify(self.root, self.meta, f"scores/{store.class_name(c, 'i64')}", idx)
        store.verify(self.root, self.meta, f"scores/{store.class_name(c, 'f32')}", sc)
        if (idx[1:] <= idx[:-1]).any():
            raise store.damaged(self.root, f"class {c}'s sample indices are not strictly increasing")
        return idx, sc

    def top_scoring(self, c: int, n: int, m: int = 3) -> np.ndarray:
        """Sample indices of the ``m`` images of class ``c`` with the highest score on filter ``n``
        (thesis Fig. 6.10: the training images beside a surprising filter)."""
        if not 0 <= n < self.num_filters:
            raise ValueError(f"n must be a filter index in [0, {self.num_filters}), got {n!r}")
        idx, sc = self.class_scores(c)
        order = np.lexsort((idx, -np.asarray(sc[:, n])))[:m]
        return np.asarray(idx)[order]

    # -- building ------------------------------------------------------------------------------

    @classmethod
    def fit(
        cls,
        model: nn.Module,
        layer: nn.Module | str,
        data: Iterable,
        *,
        num_classes: int,
        method: str = "grad-amap",
        score: str = "logit",
        quantiles: Sequence[float] = DEFAULT_QUANTILES,
        top_k: int = 9,
        directory: str | os.PathLike | None = None,
        index_offset: int = 0,
        buffer_rows: int = 65536,
        device: str | torch.device | None = None,
        progress: bool = True,
    ) -> FilterStats:
        """Stream ``data`` through the model and store the filter scores per ground-truth class.

        Parameters
        ----------
        model : nn.Module
            The trained classifier (put it in eval mode yourself; its state is not changed).
        layer : nn.Module or str
            The layer whose channels are scored (thesis: the final convolution layer).
        data : iterable
            Batches of ``(images, labels)`` or ``(images, labels, sample_indices)`` (a
            DataLoader works), or dicts with ``image``/``label``/``index``. Without indices the
            samples are numbered ``index_offset, index_offset + 1, ...`` in the order seen.
        num_classes : int
        method : str, default "grad-amap"
            Filter score (:data:`swagfast.failure.METHODS`), differentiated for the label's class.
        score : {"logit", "softmax"}, default "logit"
        quantiles : sequence of float, default (0.1, 99.9)
            Percentiles precomputed (others via :meth:`percentile`).
        top_k : int, default 9
            Images kept per filter by mean activation.
        directory : path, optional
            Where the store is written (must be empty or absent); default a temporary folder
            removed with the object (use :meth:`save` to keep it).
        index_offset : int, default 0
            First sample index when ``data`` gives none (shard ``i`` of a split dataset passes
            the number of samples before it, so merged shards never collide).
        buffer_rows : int, default 65536
            Score rows held in RAM before they are appended to the store.
        device : optional
            Move each batch here (default: leave batches where they are).
        progress : bool, default True
            A tqdm progress bar.
        """
        call = locals()
        _check_stats_method(method, score)
        check_int(num_classes, "num_classes")
        name = layer_name(model, layer)
        module = resolve_layer(model, name)

        def stream():
            for batch in data:
                x, y, idx = _unpack(batch, int(num_classes))
                if device is not None:
                    x = x.to(device)
                s, act = score_batch(model, module, x, y.to(x.device), method, score)
                yield s, y.numpy(), None if idx is None else idx.numpy(), act

        total = len(data) if hasattr(data, "__len__") else None
        options = _store_options(call)
        return cls._fit_scored(stream(), layer=name, total=total, desc="FilterStats.fit", **options)

    @classmethod
    def _close(cls, root, temporary, writer: store.Writer, method, name, score, qs) -> FilterStats:
        writer.flush()
        if writer.K is None:
            raise ValueError("data must yield at least one batch of images")
        meta = {
            "format": store.FORMAT,
            "version": store.VERSION,
            "num_classes": writer.C,
            "num_filters": writer.K,
            "method": method,
            "layer": name,
            "score": score,
            "quantiles": list(qs),
            "top_k": writer.m,
        }
        store.finalise(root, meta, writer.top_v, writer.top_i)
        return cls(root, _temporary=temporary, _written=True)

    @classmethod
    @with_options_of(fit.__func__, skip=("device",))
    def fit_ray(
        cls,
        dataset,
        model: nn.Module,
        layer: nn.Module | str,
        *,
        num_classes: int,
        image_column: str = "image",
        label_column: str = "label",
        index_column: str | None = None,
        batch_size: int = 64,
        concurrency: int = 2,
        **options,
    ) -> FilterStats:
        """:meth:`fit` on a Ray Data ``Dataset``: scores are computed by ``concurrency`` actors
        (``map_batches``), each holding a copy of the model, and streamed back to this process,
        which appends them to the store. Needs ``pip install "swagfast[ray]"``.

        ``dataset`` has a column of images (each (C, H, W) or (C, T, H, W), already normalised)
        and one of integer labels; ``index_column`` names sample indices, otherwise rows are
        numbered from ``index_offset`` in dataset order (order is preserved for the run). With
        the same batches the statistics equal :meth:`fit`'s exactly. The other options (``method``,
        ``score``, ``quantiles``, ``top_k``, ``directory``, ``index_offset``, ``buffer_rows``,
        ``progress``) are :meth:`fit`'s, with its defaults.
        """
        try:
            import ray.data
        except ImportError as err:
            raise ImportError(f'fit_ray needs Ray Data: pip install "swagfast[ray]" ({err})') from None
        from swagfast.failure.ray_fit import RayScorer

        call = {
            **forwarded_options("fit_ray", options, cls.fit, skip=("device",)),
            "num_classes": num_classes,
        }
        method, score = call["method"], call["score"]
        _check_stats_method(method, score)
        name = layer_name(model, layer)
        ctx = ray.data.DataContext.get_current()
        before = ctx.execution_options.preserve_order
        ctx.execution_options.preserve_order = True
        try:
            scored = dataset.map_batches(
                RayScorer,
                fn_constructor_kwargs={
                    "model": model,
                    "layer": name,
                    "method": method,
                    "score": score,
                    "columns": (image_column, label_column, index_column),
                },
                batch_size=batch_size,
                batch_format="numpy",
                concurrency=concurrency,
            )
            stream = (
                (b["scores"], b["label"], b.get("index"), b["act"])
                for b in scored.iter_batches(batch_size=None, batch_format="numpy")
            )
            return cls._fit_scored(stream, layer=name, **_store_options(call))
        finally:
            ctx.execution_options.preserve_order = before

    @classmethod
    def _fit_scored(
        cls,
        stream,
        *,
        num_classes,
        method,
        layer,
        score,
        quantiles,
        top_k,
        directory,
        index_offset,
        buffer_rows,
        progress,
        total=None,
        desc="FilterStats.fit_ray",
    ) -> FilterStats:
        """Append a stream of (scores, labels, indices or None, mean activations) to a new store."""
        for name, v, lo in (
            ("num_classes", num_classes, 1),
            ("top_k", top_k, 1),
            ("buffer_rows", buffer_rows, 1),
            ("index_offset", index_offset, 0),
        ):
            check_int(v, name, lo)
        qs = _check_quantiles(quantiles)
        root, temporary, created = store.new_root(directory)
        try:
            writer = store.Writer(root, int(num_classes), int(top_k), int(buffer_rows))
            next_index = int(index_offset)
            from tqdm.auto import tqdm

            for s, y, idx, act in tqdm(stream, total=total, disable=not progress, desc=desc, unit="batch"):
                y = np.asarray(y, np.int64).reshape(-1)
                if len(y) and (y.min() < 0 or y.max() >= num_classes):
                    raise ValueError(
                        f"labels must lie in [0, num_classes={num_classes}), got {y.min()}..{y.max()}"
                    )
                if idx is None:
                    idx = np.arange(next_index, next_index + len(y))
                next_index += len(y)
                writer.add(y, np.asarray(idx, np.int64), np.asarray(s, np.float32), np.asarray(act))
            return cls._close(root, temporary, writer, method, layer, score, qs)
        except BaseException:
            store.discard(root, created)
            raise

    def merge(self, other: FilterStats, directory: str | os.PathLike | None = None) -> FilterStats:
        """The store of both sets of samples: exactly what one fit over both would give, in either
        order. Both must score the same layer, method, classes and quantiles; sample indices must
        be disjoint (ValueError otherwise)."""
        if not isinstance(other, FilterStats):
            raise TypeError(f"other must be a FilterStats, got {type(other).__name__}")
        for key in ("num_classes", "num_filters", "method", "layer", "score", "quantiles", "top_k"):
            if self.meta[key] != other.meta[key]:
                raise ValueError(
                    f"cannot merge stores with different {key}: {self.meta[key]!r} vs {other.meta[key]!r}"
                )
        root, temporary, created = store.new_root(directory)
        try:
            (root / "scores").mkdir()
            K = self.num_filters
            for c in range(self.num_classes):
                with (
                    open(store.class_file(root, c, "i64"), "wb") as fi,
                    open(store.class_file(root, c, "f32"), "wb") as fs,
                ):
                    for part in (self, other):
                        idx, sc = part.class_scores(c)
                        fi.write(np.ascontiguousarray(idx).tobytes())
                        fs.write(np.ascontiguousarray(sc).reshape(-1, K).tobytes())
            top_v, top_i = store.top_merge(
                np.concatenate([self.top_values, other.top_values], axis=1),
                np.concatenate([self.top_index, other.top_index], axis=1),
                self.meta["top_k"],
            )
            store.finalise(root, dict(self.meta), top_v, top_i)
            return FilterStats(root, _temporary=temporary, _written=True)
        except BaseException:
            store.discard(root, created)
            raise

    # -- persistence ---------------------------------------------------------------------------

    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Copy the store to the folder ``path`` (written beside it, then renamed into place, so
        an interrupted save leaves nothing half-written). Returns the path."""
        path = Path(path)
        if path.exists() and not overwrite:
            raise ValueError(f"path {str(path)!r} exists; pass overwrite=True to replace it")
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        try:
            shutil.copytree(self.root, staging, dirs_exist_ok=True)
            os.chmod(staging, created_mode(directory=True))  # mkdtemp's (or a temporary store's) 0700
            if path.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
                moved = False
                try:
                    os.replace(path, old / "x")
                    moved = True
                    os.replace(staging, path)
                except BaseException:
                    if moved and not path.exists():  # interrupted between the renames: put it back
                        os.replace(old / "x", path)
                    raise
                finally:
                    shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(staging, path)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> FilterStats:
        """Open a saved store (scores stay on disk, memory-mapped)."""
        path = Path(path)
        if not (path / "meta.json").is_file():
            raise ValueError(f"path {str(path)!r} is not a FilterStats folder (no meta.json)")
        return cls(path)


__all__ = ["DEFAULT_QUANTILES", "METHODS", "FilterStats", "layer_name"]
