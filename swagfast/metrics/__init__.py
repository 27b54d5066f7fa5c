"""Evaluation metrics (SPEC.md section 6)."""

from swagfast.metrics.deletion import Curves, auc, deletion, insertion

__all__ = ["Curves", "auc", "deletion", "insertion"]
