"""swagfast: fast explanations for CNNs (SWAG, SWAG-V, Jitter-CAM, surprise and expectation).

The native core lives in ``swagfast._C`` (C++, always built) and ``swagfast._C_cuda`` (CUDA,
built when nvcc is found); ``swagfast.kernels`` holds the Numba versions of the same kernels.
"""

from swagfast._backend import (
    BackendStatus,
    BackendUnavailableError,
    backends,
    get_num_threads,
    set_num_threads,
)
from swagfast.explainers import (
    RISE,
    SWAG,
    SWAGV,
    AblationCAM,
    Explanation,
    GradAMapCAM,
    GradCAM,
    GradCAMPlusPlus,
    JitterCAM,
    SaliencyTubes,
    ScoreCAM,
    XGradCAM,
    captum_feature_mask,
    lime_segmenter,
)
from swagfast.patches import accumulate_patches
from swagfast.superpixels import MODES, REDUCTIONS, SegmentPool, segment_pool, slic, supervoxels

__version__ = "0.1.0"

__all__ = [
    "MODES",
    "REDUCTIONS",
    "BackendStatus",
    "BackendUnavailableError",
    "SWAG",
    "SWAGV",
    "AblationCAM",
    "GradAMapCAM",
    "GradCAM",
    "GradCAMPlusPlus",
    "JitterCAM",
    "RISE",
    "SaliencyTubes",
    "ScoreCAM",
    "XGradCAM",
    "accumulate_patches",
    "Explanation",
    "SegmentPool",
    "captum_feature_mask",
    "lime_segmenter",
    "__version__",
    "backends",
    "get_num_threads",
    "segment_pool",
    "set_num_threads",
    "slic",
    "supervoxels",
]
