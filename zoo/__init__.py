"""cvzoo's model zoo: one registry of every classic architecture.

>>> import zoo
>>> zoo.list_models("resnet*")[:3]
['resnet101', 'resnet152', 'resnet18']
>>> model = zoo.create_model("lenet5")
"""

from zoo._registry import (
    ModelSpec,
    Preprocessing,
    UnknownModelError,
    canonical_name,
    get_spec,
    list_aliases,
    list_models,
    register_model,
)
from zoo.factory import create_model, model_info
from zoo.transforms import get_transform
from zoo.weights import get_class_names, get_preprocessing

__all__ = [
    "ModelSpec",
    "Preprocessing",
    "UnknownModelError",
    "canonical_name",
    "create_model",
    "get_class_names",
    "get_preprocessing",
    "get_spec",
    "get_transform",
    "list_aliases",
    "list_models",
    "model_info",
    "register_model",
]
