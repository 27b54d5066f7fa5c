"""Numba versions of the native kernels: the fallback backend and an independent cross-check."""

from swagfast.kernels import patches, slic
from swagfast.kernels.segment_pool import REDUCE_CODES, segment_pool

__all__ = ["REDUCE_CODES", "patches", "segment_pool", "slic"]
