"""Evaluation metrics (SPEC.md section 6)."""

from swagfast.metrics.deletion import Curves, auc, deletion, insertion
from swagfast.metrics.faithfulness import Faithfulness, faithfulness, model_contrast_score, unit_heatmap
from swagfast.metrics.localisation import (
    FAMILIES,
    Localisation,
    PointingGame,
    box_iou,
    mask_box,
    pointing_game,
    weak_localisation,
)

__all__ = [
    "FAMILIES",
    "Curves",
    "Faithfulness",
    "Localisation",
    "PointingGame",
    "auc",
    "box_iou",
    "deletion",
    "faithfulness",
    "insertion",
    "mask_box",
    "model_contrast_score",
    "pointing_game",
    "unit_heatmap",
    "weak_localisation",
]
