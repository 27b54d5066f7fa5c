"""Forty-one corruptions of a saved FilterStats store: each is refused (ValueError naming what is
wrong) on load or on the first read of the damaged part, none is answered, none kills the
process (a truncation while the store is open included)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from swagfast.failure import FilterStats


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.block = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        return self.head(self.block(x).mean(dim=(2, 3)))


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(24, 3, 8, 8, generator=g)
    y = torch.arange(24) % 3
    data = [(x[i : i + 8], y[i : i + 8]) for i in range(0, 24, 8)]
    stats = FilterStats.fit(Tiny().eval(), "block", data, num_classes=3, progress=False, top_k=4)
    return stats.save(tmp_path_factory.mktemp("store") / "good")


def meta_edit(**changes):
    def edit(p: Path) -> None:
        m = json.loads((p / "meta.json").read_text())
        m.update(changes)
        (p / "meta.json").write_text(json.dumps(m))

    return edit


def meta_edit_fn(fn):
    def edit(p: Path) -> None:
        m = json.loads((p / "meta.json").read_text())
        fn(m)
        (p / "meta.json").write_text(json.dumps(m))

    return edit


def npy(name, fn):
    def edit(p: Path) -> None:
        np.save(p / name, fn(np.load(p / name)))

    return edit


def raw(name, fn):
    def edit(p: Path) -> None:
        (p / name).write_bytes(fn((p / name).read_bytes()))

    return edit


def rows(c, fn):
    """Rewrite class c's index and score files together (consistent sizes)."""

    def edit(p: Path) -> None:
        idx = np.fromfile(p / f"scores/c{c:05d}.i64", np.int64)
        sc = np.fromfile(p / f"scores/c{c:05d}.f32", np.float32).reshape(len(idx), -1)
        idx, sc = fn(idx, sc)
        np.ascontiguousarray(idx, np.int64).tofile(p / f"scores/c{c:05d}.i64")
        np.ascontiguousarray(sc, np.float32).tofile(p / f"scores/c{c:05d}.f32")

    return edit


def flip_byte(at):
    return lambda b: b[:at] + bytes([b[at] ^ 0x01]) + b[at + 1 :]


CORRUPTIONS = {
    # meta.json: its structure
    "meta not json": (raw("meta.json", lambda b: b"{"), "meta.json: "),
    "meta a list": (raw("meta.json", lambda b: b"[]"), "is not a FilterStats store"),
    "meta binary": (raw("meta.json", lambda b: b"\xff\xfe"), "meta.json: "),
    "no meta": (lambda p: (p / "meta.json").unlink(), "no meta.json"),
    "old version": (meta_edit(version=1), "version 1 is not supported"),
    "no count": (meta_edit_fn(lambda m: m.pop("count")), "lacks count"),
    "no checksums": (meta_edit_fn(lambda m: m.pop("checksums")), "lacks checksums"),
    "no digest": (meta_edit_fn(lambda m: m.pop("digest")), "lacks digest"),
    "short count": (meta_edit(count=[8]), "count must list 3 classes"),
    "negative count": (meta_edit(count=[8, -8, 16]), "count must hold ints >= 0"),
    "float filters": (meta_edit(num_filters=4.0), "must be positive ints"),
    "reversed quantiles": (meta_edit(quantiles=[99.9, 0.1]), "quantiles must be ascending"),
    "repeated quantiles": (meta_edit(quantiles=[0.1, 0.1]), "quantiles must be ascending"),
    "quantile over 100": (meta_edit(quantiles=[0.1, 120]), "quantiles must be ascending percentages"),
    "quantiles a number": (meta_edit(quantiles=5), "quantiles must be ascending percentages"),
    "unknown method": (meta_edit(method="magic"), "method, score or layer"),
    "unknown score": (meta_edit(score="loss"), "method, score or layer"),
    "checksums a list": (meta_edit(checksums=[]), "checksums must map"),
    # meta.json: values changed consistently with its structure (only the digest can tell)
    "counts moved": (meta_edit(count=[9, 7, 8]), "meta.json was changed"),
    "layer renamed": (meta_edit(layer="head"), "meta.json was changed"),
    "quantile shifted": (meta_edit(quantiles=[0.2, 99.9]), "meta.json was changed"),
    "checksum forged": (
        meta_edit_fn(lambda m: m["checksums"].update({"mean.npy": "0" * 64})),
        "meta.json was changed",
    ),
    # the arrays
    "no mean": (lambda p: (p / "mean.npy").unlink(), "mean.npy: "),
    "mean int64": (npy("mean.npy", lambda a: a.astype(np.int64)), "mean.npy has dtype int64"),
    "mean complex": (npy("mean.npy", lambda a: a.astype(np.complex128)), "mean.npy has dtype complex128"),
    "mean float32": (npy("mean.npy", lambda a: a.astype(np.float32)), "mean.npy has dtype float32"),
    "mean reshaped": (npy("mean.npy", lambda a: a.reshape(-1)), r"mean.npy has shape \(12,\)"),
    "mean changed": (npy("mean.npy", lambda a: a + 1e-9), "mean.npy was changed"),
    "quantiles swapped": (npy("quantiles.npy", lambda a: a[::-1].copy()), "quantiles.npy was changed"),
    "top index float": (
        npy("top_index.npy", lambda a: a.astype(np.float64)),
        "top_index.npy has dtype float64",
    ),
    "top index changed": (npy("top_index.npy", lambda a: a[:, ::-1].copy()), "top_index.npy was changed"),
    "top values junk": (raw("top_values.npy", lambda b: b"junk"), "top_values.npy: "),
    "top values byte": (raw("top_values.npy", flip_byte(-1)), "top_values.npy was changed"),
    # the score files
    "no scores": (lambda p: shutil.rmtree(p / "scores"), r"scores/c00000.i64 holds 0 bytes"),
    "scores truncated": (raw("scores/c00001.f32", lambda b: b[:-4]), "scores/c00001.f32 holds"),
    "scores extended": (raw("scores/c00002.f32", lambda b: b + b"\0" * 16), "scores/c00002.f32 holds"),
    "score byte": (raw("scores/c00000.f32", flip_byte(5)), r"scores/c00000.f32 was changed"),
    "index byte": (raw("scores/c00001.i64", flip_byte(0)), r"scores/c00001.i64 was changed"),
    "rows shuffled": (rows(0, lambda i, s: (i[::-1], s[::-1])), r"scores/c00000.i64 was changed"),
    "index duplicated": (rows(2, lambda i, s: (np.r_[i[:1], i[:-1]], s)), r"scores/c00002.i64 was changed"),
    "class files swapped": (
        lambda p: [
            (p / "scores/c00000.f32").rename(p / "scores/tmp"),
            (p / "scores/c00001.f32").rename(p / "scores/c00000.f32"),
            (p / "scores/tmp").rename(p / "scores/c00001.f32"),
        ],
        r"scores/c0000[01].f32 was changed",
    ),
}


def test_there_are_forty_one_corruptions():
    assert len(CORRUPTIONS) == 41


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_each_corruption_is_refused(good, tmp_path, name):
    edit, message = CORRUPTIONS[name]
    path = tmp_path / "store"
    shutil.copytree(good, path)
    edit(path)
    with pytest.raises(ValueError, match=message):
        FilterStats.load(path)


def test_the_untouched_copy_loads_and_answers(good):
    s = FilterStats.load(good)
    assert s.count.tolist() == [8, 8, 8]
    assert np.all(s.percentile(0.1) <= s.percentile(99.9))


def test_changes_after_load_are_refused_on_first_use(good, tmp_path):
    path = tmp_path / "store"
    shutil.copytree(good, path)
    s = FilterStats.load(path)
    f = path / "scores" / "c00001.f32"
    f.write_bytes(f.read_bytes()[: 4 * 4 * 3])  # truncated while open: no fault, an error
    with pytest.raises(ValueError, match="class 1: scores/c00001.f32 holds 12 values"):
        s.class_scores(1)
    with pytest.raises(ValueError, match="class 1"):
        s.percentile(50)
    g = path / "scores" / "c00002.f32"
    g.write_bytes(flip_byte(9)(g.read_bytes()))  # same size, other bytes
    with pytest.raises(ValueError, match="scores/c00002.f32 was changed"):
        s.top_scoring(2, 0)
    assert s.class_scores(0)[0].tolist() == [0, 3, 6, 9, 12, 15, 18, 21]  # the rest still answers
