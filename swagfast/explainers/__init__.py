"""Explainers: SWAG / SWAG-V (and, later, the CAM family and Jitter-CAM)."""

from swagfast.explainers.explanation import Explanation
from swagfast.explainers.swag import (
    DEFAULT_WEIGHTS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    SWAG,
    captum_feature_mask,
    lime_segmenter,
)

__all__ = ["DEFAULT_WEIGHTS", "IMAGENET_MEAN", "IMAGENET_STD", "SWAG", "Explanation", "captum_feature_mask",
           "lime_segmenter"]
