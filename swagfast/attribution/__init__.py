"""Pixel attributions (SPEC.md section 1): gradients of a class score with respect to the input."""

from swagfast.attribution.gradients import pixel_map, resolve_target, vanilla

__all__ = ["pixel_map", "resolve_target", "vanilla"]
