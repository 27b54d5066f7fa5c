"""Superpixel operations: :func:`segment_pool` (pooling over segments) and gradient-augmented
SLIC, :func:`slic` for images and :func:`supervoxels` for clips."""

from swagfast.superpixels.pool import POOLINGS, REDUCTIONS, SegmentPool, segment_pool
from swagfast.superpixels.slic import (
    CONNECTIVITY_RULES,
    MODES,
    SlicParams,
    check_connectivity_rule,
    slic,
    supervoxels,
)

__all__ = [
    "CONNECTIVITY_RULES",
    "MODES",
    "POOLINGS",
    "REDUCTIONS",
    "SegmentPool",
    "SlicParams",
    "check_connectivity_rule",
    "segment_pool",
    "slic",
    "supervoxels",
]
