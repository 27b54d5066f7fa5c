"""Numba versions of the native kernels: the fallback backend and an independent cross-check."""

from swagfast.kernels import slic
from swagfast.kernels.segment_pool import REDUCE_CODES, segment_pool

__all__ = ["REDUCE_CODES", "segment_pool", "slic"]
