"""Evaluation metrics (METHODS.md §6)."""

from swagfast.metrics.dataset import crop_box, evaluate_folder, summarise
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
from swagfast.metrics.removal import RemovalCurve, filter_removal_auc, remove_top_pixels, roar
from swagfast.metrics.road import RoadCurve, linear_imputation, road
from swagfast.metrics.sanity import (
    Randomisation,
    infidelity,
    max_sensitivity,
    randomisation_test,
    rank_correlation,
)

__all__ = [
    "FAMILIES",
    "Curves",
    "Faithfulness",
    "Localisation",
    "RemovalCurve",
    "RoadCurve",
    "PointingGame",
    "Randomisation",
    "auc",
    "box_iou",
    "crop_box",
    "deletion",
    "evaluate_folder",
    "faithfulness",
    "infidelity",
    "filter_removal_auc",
    "insertion",
    "linear_imputation",
    "mask_box",
    "max_sensitivity",
    "model_contrast_score",
    "pointing_game",
    "randomisation_test",
    "rank_correlation",
    "remove_top_pixels",
    "road",
    "roar",
    "summarise",
    "unit_heatmap",
    "weak_localisation",
]
