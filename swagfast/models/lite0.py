"""The embedded EfficientNet-Lite0's architecture: the ``efficientnet-lite-pytorch`` package's,
with the head's activation as a module of its own."""

from __future__ import annotations

from efficientnet_lite_pytorch import EfficientNet
from torch import nn


class EfficientNetLite0(EfficientNet):
    """EfficientNet-Lite0 with its head activation as a module of its own (``_relu_head``), so
    that CAMs explain the head's post-activation feature map by name (the package's model calls
    its stem's ReLU6 module, ``_swish``, again there). No parameters are added: it loads the
    package's state dict as it is and computes the same function."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._relu_head = nn.ReLU6()

    def extract_features(self, inputs):
        x = self._swish(self._bn0(self._conv_stem(inputs)))
        for idx, block in enumerate(self._blocks):
            rate = self._global_params.drop_connect_rate
            x = block(x, drop_connect_rate=rate * float(idx) / len(self._blocks) if rate else rate)
        return self._relu_head(self._bn1(self._conv_head(x)))
