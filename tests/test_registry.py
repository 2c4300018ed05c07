"""zoo._registry: what ``register_model`` records, how names are looked up, filtered and checked."""

from __future__ import annotations

import pytest
import torch

import zoo
from zoo import _registry
from zoo._registry import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    UnknownModelError,
    check_kwargs,
    count_parameters,
    get_spec,
    list_models,
    register_model,
)


@pytest.fixture
def registry(monkeypatch):
    """The real registry, loaded, in a copy that the test may add to."""
    list_models()
    monkeypatch.setattr(_registry, "_REGISTRY", dict(_registry._REGISTRY))
    return _registry._REGISTRY


def _tiny(*, num_classes: int = 4, width: int = 3) -> torch.nn.Module:
    """A tiny test network.

    Longer text."""
    return torch.nn.Linear(width, num_classes)


def test_register_model_records_the_spec(registry):
    builder = register_model(task="segmentation", input_size=(3, 20, 30), num_classes=4, family="toy",
                             paper="nobody", weights=["w0", "w1"])(_tiny)
    assert builder is _tiny  # the decorator returns the builder itself
    spec = registry["_tiny"]
    assert (spec.name, spec.task, spec.input_size, spec.num_classes, spec.family, spec.paper) == (
        "_tiny", "segmentation", (3, 20, 30), 4, "toy", "nobody")
    assert spec.builder is _tiny and spec.weights == ("w0", "w1")
    # the description defaults to the docstring's first line; the doc is all of it
    assert spec.description == "A tiny test network." and spec.doc == "A tiny test network.\n\nLonger text."
    # three channels: ImageNet statistics; resize to the input height, crop to the input size
    pre = spec.preprocessing
    assert (pre.resize, pre.crop, pre.mean, pre.std) == (20, (20, 30), IMAGENET_MEAN, IMAGENET_STD)
    assert (pre.interpolation, pre.pad) == ("bilinear", 0)


def test_register_model_statistics_resize_and_description(registry):
    def grey(*, num_classes: int = 2) -> torch.nn.Module:
        return torch.nn.Identity()

    def mine(*, num_classes: int = 2) -> torch.nn.Module:
        return torch.nn.Identity()

    def bare():
        return torch.nn.Identity()

    register_model(task="classification", input_size=(2, 8, 8), num_classes=2, family="f", paper="p")(grey)
    assert registry["grey"].preprocessing.mean == (0.5, 0.5) and registry["grey"].preprocessing.std == (0.5, 0.5)
    register_model(task="classification", input_size=(1, 8, 10), num_classes=2, family="f", paper="p",
                   mean=[0.1], std=[0.2], resize=12, description="given")(mine)
    pre = registry["mine"].preprocessing
    assert (pre.mean, pre.std, pre.resize, pre.crop) == ((0.1,), (0.2,), 12, (8, 10))
    assert registry["mine"].description == "given" and registry["mine"].weights == ()
    register_model(task="classification", input_size=(1, 8, 8), num_classes=2, family="f", paper="p")(bare)
    assert registry["bare"].description == "" and registry["bare"].doc == ""
    tasks = r"\('classification', 'segmentation', 'edges'\)"
    with pytest.raises(ValueError, match=rf"task must be one of {tasks}, got 'detection'"):
        register_model(task="detection", input_size=(1, 8, 8), num_classes=2, family="f", paper="p")
    with pytest.raises(ValueError, match="model 'bare' is registered twice"):
        register_model(task="classification", input_size=(1, 8, 8), num_classes=2, family="f", paper="p")(bare)


def test_list_models_sorts_and_filters(registry):
    names = list_models()
    assert names == sorted(registry) and len(names) > 30
    assert list_models("resnet1*") == ["resnet101", "resnet152", "resnet18", "resnet18_cifar"]
    seg = list_models(task="segmentation")
    assert seg and all(registry[n].task == "segmentation" for n in seg)
    assert sorted(seg + list_models(task="classification") + list_models(task="edges")) == names
    with_weights = list_models(pretrained=True)
    assert with_weights == [n for n in names if registry[n].weights] and "lenet5" in with_weights
    assert "alexnet_2012" not in with_weights
    assert list_models("lenet*", task="classification", pretrained=True) == ["lenet5"]
    assert list_models("lenet*", task="segmentation") == []
    with pytest.raises(ValueError, match=r"unknown task 'detection'; choose one of \('classification', "):
        list_models(task="detection")


def test_get_spec_errors_name_the_problem():
    assert get_spec("lenet5").name == "lenet5"
    with pytest.raises(TypeError, match="model name must be a string, got int"):
        get_spec(5)
    with pytest.raises(UnknownModelError) as err:
        get_spec("lenet6")
    n = len(list_models())
    message = str(err.value)  # the closest name first
    assert message.startswith("unknown model 'lenet6'. Did you mean: lenet5, ")
    assert message.endswith(f"? `cvzoo models` lists all {n} models; any timm architecture is available as "
                            "'timm/<name>'.")
    assert isinstance(err.value, KeyError)
    with pytest.raises(UnknownModelError) as err:
        get_spec("qqqqqqqqqqqq")
    assert "Did you mean" not in str(err.value) and str(err.value).startswith("unknown model 'qqqqqqqqqqqq'. `cvzoo")
    with pytest.raises(UnknownModelError, match=r"Did you mean: (\w+, ){4}\w+\?"):  # at most five suggestions
        get_spec("resnet")


def test_check_kwargs():
    check_kwargs(get_spec("lenet5"), {"num_classes": 3, "in_chans": 3})
    with pytest.raises(TypeError, match=r"^lenet5 does not accept 'a', 'depth'; it accepts: num_classes, in_chans$"):
        check_kwargs(get_spec("lenet5"), {"num_classes": 3, "depth": 2, "a": 1})
    spec = get_spec("lenet5")
    import dataclasses

    def anything(**kwargs):
        return torch.nn.Identity()

    def nothing():
        return torch.nn.Identity()

    check_kwargs(dataclasses.replace(spec, builder=anything), {"whatever": 1})
    with pytest.raises(TypeError, match="it accepts: no arguments"):
        check_kwargs(dataclasses.replace(spec, name="n", builder=nothing), {"x": 1})


def test_count_parameters_with_and_without_arguments():
    spec = get_spec("lenet5")
    assert count_parameters(spec) == 61_706
    # the head: Linear(84, 10) becomes Linear(84, 3)
    assert count_parameters(spec, num_classes=3) == 61_706 - (84 * 10 + 10) + (84 * 3 + 3)
    assert count_parameters(spec, in_chans=3) == 61_706 + 2 * 6 * 5 * 5  # two more input planes for conv1
    assert zoo.model_info("lenet5", macs=False)["num_params"] == 61_706
