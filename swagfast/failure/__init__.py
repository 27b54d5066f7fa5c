"""Explaining failure with surprise and expectation (thesis chapter 6, METHODS.md §5).

* :func:`filter_scores` / :func:`grad_amap`: per-image scores for every filter of a layer;
* :class:`FilterStats`: per (class, filter) training distributions, streamed to disk, mergeable,
  fitted by a loop or by Ray Data;
* :func:`analyze` / :func:`beta_report`: beta, surprising and expected filters;
* :func:`surprise_region`, :func:`masked_activation`, :func:`suppress_surprise`: where a
  surprising filter looks, the training images beside it, and deleting the region to fix the
  prediction.
"""

from swagfast.failure.analysis import Analysis, BetaReport, analyze, beta_report
from swagfast.failure.regions import (
    REMOVALS,
    SEGMENTS,
    Region,
    Suppression,
    Sweep,
    filter_gradient,
    masked_activation,
    suppress_surprise,
    surprise_region,
)
from swagfast.failure.scores import METHODS, filter_scores, grad_amap
from swagfast.failure.stats import FilterStats

__all__ = [
    "METHODS",
    "REMOVALS",
    "SEGMENTS",
    "Analysis",
    "BetaReport",
    "FilterStats",
    "Region",
    "Suppression",
    "Sweep",
    "analyze",
    "beta_report",
    "filter_gradient",
    "filter_scores",
    "grad_amap",
    "masked_activation",
    "suppress_surprise",
    "surprise_region",
]
