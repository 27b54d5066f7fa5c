"""Explainers: SWAG / SWAG-V, the CAM family and Jitter-CAM."""

from swagfast.explainers.cam import (
    CAMS,
    AblationCAM,
    BaseCAM,
    EigenCAM,
    EigenGradCAM,
    GradAMapCAM,
    GradCAM,
    GradCAMElementWise,
    GradCAMPlusPlus,
    GuidedGradCAM,
    HiResCAM,
    LayerCAM,
    SaliencyTubes,
    ScoreCAM,
    XGradCAM,
)
from swagfast.explainers.explanation import Explanation
from swagfast.explainers.jitter import JitterCAM
from swagfast.explainers.occlusion import Occlusion
from swagfast.explainers.peers import LIME, XRAI
from swagfast.explainers.rise import RISE
from swagfast.explainers.swag import (
    DEFAULT_WEIGHTS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    SWAG,
    SWAGV,
    captum_feature_mask,
    lime_segmenter,
)

__all__ = [
    "CAMS",
    "DEFAULT_WEIGHTS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "SWAG",
    "SWAGV",
    "AblationCAM",
    "BaseCAM",
    "EigenCAM",
    "EigenGradCAM",
    "Explanation",
    "GradAMapCAM",
    "GradCAM",
    "GradCAMElementWise",
    "GradCAMPlusPlus",
    "GuidedGradCAM",
    "HiResCAM",
    "JitterCAM",
    "LayerCAM",
    "Occlusion",
    "RISE",
    "SaliencyTubes",
    "ScoreCAM",
    "XGradCAM",
    "LIME",
    "XRAI",
    "captum_feature_mask",
    "lime_segmenter",
]
