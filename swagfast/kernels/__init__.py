"""Numba versions of the native kernels, an independent cross-check of the C++ ones.

A flat module with the names and signatures of ``swagfast._C``; the wrappers reach either one
(and ``swagfast._C_cuda``) through :func:`swagfast._backend.kernel`.
"""

from swagfast.kernels import patches, slic
from swagfast.kernels.patches import accumulate_patches
from swagfast.kernels.segment_pool import segment_pool
from swagfast.kernels.slic import relabel, relabel_parallel, rescale_gradient, rgb_to_lab, slic_iterate

__all__ = [
    "accumulate_patches",
    "patches",
    "relabel",
    "relabel_parallel",
    "rescale_gradient",
    "rgb_to_lab",
    "segment_pool",
    "slic",
    "slic_iterate",
]
