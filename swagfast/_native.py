"""The compiled CPU module and the enumerations it defines: the reductions and the accumulator
slots are listed once, in ``csrc/include/swagfast/segment_pool.h``, and read from ``swagfast._C``
by the Python wrapper and the Numba kernels alike."""

from __future__ import annotations

from swagfast import _C

REDUCTIONS: tuple[str, ...] = tuple(_C.REDUCTIONS)
REDUCE_CODES: dict[str, int] = {name: i for i, name in enumerate(REDUCTIONS)}
ACC_SLOTS: dict[str, int] = dict(_C.ACC_SLOTS)
