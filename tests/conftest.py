"""Shared test helpers: backend parametrisation and the CUDA skip (with its reason printed by -ra)."""

from __future__ import annotations

import numpy as np
import pytest

import swagfast

BACKEND_PARAMS = ["cpu", "numba", pytest.param("cuda", marks=pytest.mark.cuda)]


def pytest_collection_modifyitems(config, items):
    status = swagfast.backends()["cuda"]
    if status.available:
        return
    skip = pytest.mark.skip(reason=f"CUDA backend unavailable here: {status.reason}")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(params=BACKEND_PARAMS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
