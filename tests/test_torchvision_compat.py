"""State-dict keys and shapes equal torchvision's; copied weights give the same outputs."""

import pytest
import torch
import torchvision

import zoo

# cvzoo name -> torchvision builder kwargs
TV = {
    "alexnet": {}, "vgg11": {}, "vgg13": {}, "vgg16": {}, "vgg19": {}, "vgg11_bn": {}, "vgg13_bn": {},
    "vgg16_bn": {}, "vgg19_bn": {}, "resnet18": {}, "resnet34": {}, "resnet50": {}, "resnet101": {},
    "resnet152": {}, "resnext50_32x4d": {}, "resnext101_32x8d": {}, "densenet121": {}, "densenet161": {},
    "densenet169": {}, "googlenet": {"aux_logits": False, "init_weights": True},
}
# one network per family is also compared numerically (eval mode, random input)
NUMERIC = {"alexnet": 128, "vgg11_bn": 64, "resnet18": 64, "resnext50_32x4d": 64, "densenet121": 64,
           "googlenet": 96}


def _shapes(model: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize("name", sorted(TV))
def test_state_dict_keys_and_shapes_match(name):
    with torch.device("meta"):
        ours = zoo.create_model(name)
        theirs = getattr(torchvision.models, name)(weights=None, **TV[name])
    assert _shapes(ours) == _shapes(theirs)


@pytest.mark.parametrize("name", sorted(NUMERIC))
def test_torchvision_weights_load_and_agree(name):
    torch.manual_seed(0)
    theirs = getattr(torchvision.models, name)(weights=None, **TV[name]).eval()
    ours = zoo.create_model(name).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(2, 3, NUMERIC[name], NUMERIC[name])
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), atol=1e-5, rtol=1e-5)
