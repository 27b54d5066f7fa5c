"""Pixel attributions (METHODS.md §1): gradients of a class score with respect to the input."""

from swagfast._validate import SCORES
from swagfast.attribution.gradients import (
    METHODS,
    attribute,
    check_images,
    check_input,
    check_logits,
    class_score,
    deconvolution,
    forward,
    guided,
    input_x_gradient,
    noise_map,
    pixel_map,
    random_target,
    resolve_target,
    sobel_map,
    vanilla,
)
from swagfast.attribution.guided import guided_graph, unknown_activations
from swagfast.attribution.paths import integrated_gradients, noise_tunnel, path_points

__all__ = [
    "METHODS",
    "SCORES",
    "attribute",
    "check_images",
    "check_input",
    "check_logits",
    "class_score",
    "deconvolution",
    "forward",
    "guided",
    "guided_graph",
    "input_x_gradient",
    "integrated_gradients",
    "noise_map",
    "noise_tunnel",
    "path_points",
    "pixel_map",
    "random_target",
    "resolve_target",
    "sobel_map",
    "unknown_activations",
    "vanilla",
]
