"""Filter scores of a Ray Data ``Dataset`` (:meth:`swagfast.failure.FilterStats.fit_ray`): the
actors that score batches beside the process that writes the store. Needs ``swagfast[ray]``."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from swagfast.attribution.layers import resolve_layer
from swagfast.failure.scores import score_batch


class RayScorer:
    """A Ray Data actor: the model and layer, scoring one numpy batch at a time."""

    def __init__(self, model: nn.Module, layer: str, method: str, score: str, columns) -> None:
        self.model, self.method, self.score = model, method, score
        self.layer = resolve_layer(model, layer)
        self.columns = columns

    def __call__(self, batch: dict) -> dict:
        image_col, label_col, index_col = self.columns
        x = torch.from_numpy(np.ascontiguousarray(np.stack(list(batch[image_col])), np.float32))
        y = torch.as_tensor(np.asarray(batch[label_col], np.int64))
        scores, act = score_batch(self.model, self.layer, x, y, self.method, self.score)
        out = {"scores": scores, "label": y.numpy(), "act": act}
        if index_col is not None:
            out["index"] = np.asarray(batch[index_col], np.int64)
        return out
