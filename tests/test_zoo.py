import pytest
import torch

import zoo
from zoo.factory import model_info
from zoo.weights import WeightsNotFoundError

ALL = zoo.list_models()
EXACT_PARAMS = {"lenet5": 61_706, "alexnet": 61_100_840, "vgg16": 138_357_544, "resnet50": 25_557_032}
REQUIRED = [
    "lenet5", "mnist_cnn", "alexnet", "alexnet_2012", "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn",
    "vgg13_bn", "vgg16_bn", "vgg19_bn", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "resnext50_32x4d", "resnext101_32x8d", "densenet121", "densenet161", "densenet169", "googlenet",
    "cifar_cnn", "resnet18_cifar", "resnet34_cifar", "densenet_bc100_k12", "resnext29_8x16d", "fcn32s",
    "fcn16s", "fcn8s", "ensemble",
]


def test_required_names_registered():
    assert set(REQUIRED) <= set(ALL)


@pytest.mark.parametrize("name", ALL)
def test_forward_at_input_size(name):
    torch.manual_seed(0)
    spec = zoo.get_spec(name)
    model = zoo.create_model(name).eval()
    x = torch.randn(1, *spec.input_size)
    with torch.no_grad():
        out = model(x)
    if spec.task in ("segmentation", "edges"):
        assert out.shape == (1, spec.num_classes, *spec.input_size[1:])
    else:
        assert out.shape == (1, spec.num_classes)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", sorted(EXACT_PARAMS))
def test_exact_parameter_counts(name):
    assert model_info(name)["num_params"] == EXACT_PARAMS[name]


@pytest.mark.parametrize("name", ["lenet5", "resnet18_cifar", "cifar_cnn"])
def test_backward_pass(name):
    spec = zoo.get_spec(name)
    model = zoo.create_model(name).train()
    out = model(torch.randn(2, *spec.input_size))
    out.logsumexp(1).sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_num_classes_and_in_chans():
    model = zoo.create_model("resnet18_cifar", num_classes=7, in_chans=1).eval()
    assert model(torch.randn(2, 1, 32, 32)).shape == (2, 7)
    assert zoo.create_model("fcn8s", num_classes=12)(torch.randn(1, 3, 64, 64)).shape == (1, 12, 64, 64)


@pytest.mark.parametrize(("name", "size"), [("fcn32s", (67, 93)), ("fcn16s", (67, 93)), ("fcn8s", (67, 93)),
                                            ("fcn8s", (250, 333))])
def test_fcn_output_matches_odd_input_size(name, size):
    model = zoo.create_model(name, num_classes=5).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, *size)).shape == (1, 5, *size)


def test_fcn_upsampling_starts_bilinear():
    from zoo.models.fcn import _upsample

    up = _upsample(1, 2)
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    y = up(x)
    assert y.shape == (1, 1, 8, 8)
    # interior of a linear ramp stays a linear ramp after bilinear upsampling
    assert torch.allclose(y[0, 0, 2:6, 2:6].diff(dim=1), torch.full((4, 3), 0.5))


def test_ensemble_averages_member_probabilities():
    torch.manual_seed(0)
    members = [zoo.create_model("lenet5").eval(), zoo.create_model("lenet5").eval()]
    model = zoo.create_model("ensemble", members=members, weights=[1, 3]).eval()
    x = torch.randn(4, 1, 32, 32)
    with torch.no_grad():
        out = model(x)
        expected = 0.25 * members[0](x).softmax(1) + 0.75 * members[1](x).softmax(1)
    assert torch.allclose(out.sum(1), torch.ones(4))
    assert torch.allclose(out, expected, atol=1e-6)


def test_ensemble_with_registered_and_timm_members():
    model = zoo.create_model("ensemble", members=["cifar_cnn", "timm/resnet10t"], num_classes=10).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10)
    assert torch.allclose(out.sum(1), torch.ones(2))


def test_ensemble_bad_weights():
    with pytest.raises(ValueError, match=r"got 1 weights for 2 members"):
        zoo.create_model("ensemble", members=["lenet5", "lenet5"], weights=[1.0])
    with pytest.raises(ValueError, match="at least one"):
        zoo.create_model("ensemble", members=[])
    for bad in ([1.0, -0.5], [0.0, 0.0]):
        with pytest.raises(ValueError, match=rf"non-negative with a positive sum, got \[{bad[0]}, {bad[1]}\]"):
            zoo.create_model("ensemble", members=["lenet5", "lenet5"], weights=bad)


def test_ensemble_defaults_member_probabilities_and_state():
    from zoo.models.ensemble import DEFAULT_MEMBERS

    torch.manual_seed(0)
    model = zoo.create_model("ensemble", num_classes=5).eval()  # the default members, each with 5 classes
    assert [type(m.model).__name__ for m in model.members] == [type(zoo.create_model(n)).__name__
                                                              for n in DEFAULT_MEMBERS]
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        probs = model.member_probabilities(x)
        out = model(x)
    assert probs.shape == (3, 2, 5) and torch.allclose(probs.sum(2), torch.ones(3, 2))
    torch.testing.assert_close(model.weights, torch.full((3,), 1 / 3))  # equal shares by default
    torch.testing.assert_close(out, probs.mean(0))
    # the shares are settings, not weights: a state_dict holds the members' parameters only
    assert not any(k == "weights" for k in model.state_dict()) and all(k.startswith("members.")
                                                                        for k in model.state_dict())
    zero = zoo.create_model("ensemble", members=[zoo.create_model("lenet5"), zoo.create_model("lenet5")],
                            weights=[0.0, 2.0])
    torch.testing.assert_close(zero.weights, torch.tensor([0.0, 1.0]))  # a zero share is allowed


def test_timm_models_through_same_api():
    model = zoo.create_model("timm/resnet10t", num_classes=3).eval()
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 3)
    with pytest.raises(ValueError, match="timm has no architecture"):
        zoo.create_model("timm/not_a_model_xyz")


def test_unknown_name_suggests_close_names():
    with pytest.raises(zoo.UnknownModelError, match=r"Did you mean: (resnet\w+, )*resnet50\b"):
        zoo.create_model("resnet05")
    with pytest.raises(KeyError):
        zoo.model_info("nothing_like_it_at_all")


def test_bad_argument_is_clear():
    with pytest.raises(TypeError, match=r"lenet5 does not accept 'depth'.*accepts: num_classes, in_chans"):
        zoo.create_model("lenet5", depth=3)
    with pytest.raises(TypeError, match="must be a string"):
        zoo.create_model(5)


def test_pretrained_without_weights_names_models_that_have_them():
    from zoo.weights import WeightsNotFoundError

    with pytest.raises(WeightsNotFoundError, match="alexnet_2012 has no published weights"):
        zoo.create_model("alexnet_2012", pretrained=True)


def test_list_models_filters():
    assert zoo.list_models("vgg1?_bn") == ["vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"]
    assert zoo.list_models(task="segmentation") == ["fcn16s", "fcn16s_effnet_lite0", "fcn32s", "fcn32s_effnet_lite0",
                                                    "fcn8s", "fcn8s_effnet_lite0"]
    assert "lenet5" not in zoo.list_models(task="segmentation")
    assert zoo.list_models(task="edges") == ["hed_effnet_lite0"]
    with pytest.raises(ValueError, match="unknown task"):
        zoo.list_models(task="detection")


def test_duplicate_registration_raises():
    from zoo._registry import register_model

    with pytest.raises(ValueError, match="registered twice"):
        @register_model(task="classification", input_size=(1, 32, 32), num_classes=10, family="x", paper="x")
        def lenet5():  # a deliberate duplicate
            return torch.nn.Identity()


def test_model_info_fields():
    info = zoo.model_info("resnet18_cifar")
    assert info["task"] == "classification" and info["input_size"] == (3, 32, 32)
    assert info["family"] == "resnet" and "He et al." in info["paper"]
    assert info["preprocessing"]["crop"] == (32, 32) and len(info["preprocessing"]["mean"]) == 3


RENAMED = [("resnext_cifar", "resnext29_8x16d"), ("densenet_cifar", "densenet_bc100_k12")]


@pytest.mark.parametrize(("old", "new"), RENAMED)
def test_former_names_still_load_with_a_warning(old, new):
    assert zoo.list_aliases()[old] == new and old not in zoo.list_models()
    with pytest.warns(FutureWarning, match=f"{old!r} is deprecated.*{new!r}") as record:
        spec = zoo.get_spec(old)
    assert spec.name == new and record[0].filename == __file__  # the warning names the caller's line
    with pytest.warns(FutureWarning, match=new):
        model = zoo.create_model(old, num_classes=3)
    shapes = {k: v.shape for k, v in zoo.create_model(new, num_classes=3).state_dict().items()}
    assert {k: v.shape for k, v in model.state_dict().items()} == shapes
    assert zoo.canonical_name(old) == new and zoo.canonical_name(new) == new


def test_renamed_models_are_what_their_names_say():
    resnext = zoo.create_model("resnext29_8x16d")
    convs = [m for n, m in resnext.named_modules() if isinstance(m, torch.nn.Conv2d) and "downsample" not in n]
    assert len(convs) + 1 == 29  # 3 stages x 3 bottlenecks x 3 convs + stem, + the classifier
    assert [(s[0].conv2.groups, s[0].conv2.in_channels // s[0].conv2.groups) for s in
            (resnext.layer1, resnext.layer2, resnext.layer3)] == [(8, 16), (8, 32), (8, 64)]  # 8x16d, doubling
    densenet = zoo.create_model("densenet_bc100_k12")
    convs = [m for m in densenet.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) + 1 == 100 and {c.out_channels for c in convs if c.kernel_size == (3, 3)} == {24, 12}


def test_alias_cannot_take_a_registered_name():
    from zoo._registry import register_model

    with pytest.raises(ValueError, match="'lenet5' is registered twice"):
        @register_model(task="classification", input_size=(1, 32, 32), num_classes=10, family="x", paper="x",
                        aliases=("lenet5",))
        def a_new_name():
            return torch.nn.Identity()


def test_model_info_and_cli_name_the_defining_module(capsys):
    from zoo.cli import main

    assert model_info("resnext29_8x16d", macs=False)["module"] == "zoo.models.resnet"
    assert model_info("resnext29_8x16d", macs=False)["aliases"] == ["resnext_cifar"]
    assert main(["models", "lenet*"]) == 0
    assert "zoo.models.lenet" in capsys.readouterr().out


def test_a_new_module_in_zoo_models_registers_itself(tmp_path, monkeypatch):
    """Adding a model is writing one file: every module of the zoo.models package is imported."""
    import sys

    import zoo.models
    from zoo import _registry

    (tmp_path / "tiny_net_for_test.py").write_text(
        "import torch\nfrom zoo import register_model\n\n\n"
        "@register_model(task='classification', input_size=(1, 8, 8), num_classes=2, family='tiny', paper='none')\n"
        "def tiny_net_for_test(*, num_classes: int = 2) -> torch.nn.Module:\n"
        "    '''A test network.'''\n"
        "    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, num_classes))\n"
    )
    monkeypatch.setattr(zoo.models, "__path__", [*zoo.models.__path__, str(tmp_path)])
    monkeypatch.setattr(_registry, "_REGISTRY", dict(_registry._REGISTRY))  # restored after the test
    try:
        assert "tiny_net_for_test" in zoo.models.import_all()
        assert zoo.get_spec("tiny_net_for_test").module == "zoo.models.tiny_net_for_test"
        assert zoo.create_model("tiny_net_for_test")(torch.zeros(3, 1, 8, 8)).shape == (3, 2)
    finally:
        sys.modules.pop("zoo.models.tiny_net_for_test", None)


def test_paths_read_the_environment_at_call_time(monkeypatch, tmp_path):
    from pathlib import Path

    from zoo.paths import REPO_ROOT, data_root, runs_root

    monkeypatch.setenv("CVZOO_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("CVZOO_RUNS", str(tmp_path / "runs"))
    assert (data_root(), runs_root()) == (tmp_path / "data", tmp_path / "runs")
    assert data_root(tmp_path / "given") == tmp_path / "given"
    monkeypatch.delenv("CVZOO_DATA")
    monkeypatch.delenv("CVZOO_RUNS")
    assert (data_root(), runs_root()) == ((REPO_ROOT.parent / "shared" / "data").resolve(), Path("runs"))


def test_ensemble_members_by_weight_id_and_their_errors():
    with pytest.raises(zoo.UnknownModelError, match="Did you mean"):
        zoo.create_model("ensemble", members=["cifar_speedrun.cifar10", "cifar_speedrn.cifar10"])
    with pytest.raises(WeightsNotFoundError, match="available: cifar10, cifar10_seed1"):
        zoo.create_model("ensemble", members=["cifar_speedrun.cifar10", "cifar_speedrun.imagenet"])
    with pytest.raises(ValueError, match=r"different numbers of classes \(cifar_speedrun.cifar10: 10, fcn8s: 21\)"):
        zoo.create_model("ensemble", members=["cifar_speedrun.cifar10", "fcn8s"])
    odd = zoo.create_model("ensemble", members=[zoo.create_model("lenet5"), zoo.create_model("lenet5", num_classes=7)])
    with pytest.raises(ValueError, match="member 1: 10, member 2: 7"):
        odd(torch.zeros(1, 1, 32, 32))


def test_ensemble_member_normalises_its_own_input():
    """Members trained with other statistics agree: each normalises the ensemble's [0, 1] input itself."""
    from zoo.models.ensemble import build_member

    member = build_member("cifar_speedrun.cifar10")
    pre = zoo.get_preprocessing("cifar_speedrun")
    x = torch.rand(2, 3, 32, 32)
    mean, std = torch.tensor(pre.mean).view(1, 3, 1, 1), torch.tensor(pre.std).view(1, 3, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(member(x), member.model((x - mean) / std))
