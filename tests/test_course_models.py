"""The course's networks, exactly as printed, and the compute/accuracy figures of the lecture."""

import pytest
import torch

import zoo
from zoo.flops import count_macs, published_imagenet


def conv(cin, cout, k=3, groups=1, bias=True):
    return cout * (cin // groups) * k * k + (cout if bias else 0)


def bn(c):
    return 2 * c


def cbr(cin, cout):
    return conv(cin, cout) + bn(cout)


# Parameter counts worked out from the printed layouts (Figs. 57-60 of the course report).
PRINTED = {
    "cifar_cnn": cbr(3, 64) + cbr(64, 64) + cbr(64, 128) + 128 * 512 + 512 + 512 * 10 + 10,
    "course_resnet18": cbr(3, 64) + cbr(64, 128) + 2 * cbr(128, 128) + cbr(128, 256) + cbr(256, 512)
    + 2 * cbr(512, 512) + 512 * 10 + 10,
    "course_resnet34": cbr(3, 64) + cbr(64, 64) + cbr(64, 128) + 4 * cbr(128, 128) + cbr(128, 256)
    + 4 * cbr(256, 256) + cbr(256, 512) + 3 * cbr(512, 512) + 512 * 10 + 10,
    "course_resnext": conv(3, 64, 1) + bn(64)
    + sum(conv(cin, w, 1) + bn(w) + conv(w, w, 3, groups=2) + bn(w) + conv(w, out, 1) + bn(out) + conv(cin, out, 1)
          + bn(out) for cin, w, out in ((64, 128, 256), (256, 256, 512), (512, 512, 1024)))
    + 1024 * 10 + 10,
}


@pytest.mark.parametrize("name", sorted(PRINTED))
def test_parameter_counts_from_the_prints(name):
    assert zoo.model_info(name)["num_params"] == PRINTED[name]


@pytest.mark.parametrize(("name", "size"), [("course_resnet18", 10), ("course_resnet34", 10),
                                            ("course_resnext", 32), ("course_resnet18_32", 32),
                                            ("course_resnet34_32", 32)])
def test_registered_input_sizes(name, size):
    assert zoo.get_spec(name).input_size == (3, size, size)
    with torch.no_grad():
        assert zoo.create_model(name).eval()(torch.randn(2, 3, size, size)).shape == (2, 10)


def test_printed_networks_do_not_take_whole_images():
    # the flatten of Fig. 58 and the pools of Fig. 59 only fit a 10x10 crop: at 32x32 they fail...
    for name in ("course_resnet18", "course_resnet34"):
        with pytest.raises(RuntimeError):
            zoo.create_model(name)(torch.randn(1, 3, 32, 32))
    # ...and the 8x8 pool of Fig. 60 cannot take a 10x10 crop
    with pytest.raises(RuntimeError):
        zoo.create_model("course_resnext")(torch.randn(1, 3, 10, 10))


def test_what_the_networks_really_are():
    assert "ResNet-9" in zoo.model_info("course_resnet18")["description"]
    convs = sum(isinstance(m, torch.nn.Conv2d) for m in zoo.create_model("course_resnet18").modules())
    assert convs == 8


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_macs_match_torchvision_metadata(name):
    assert round(count_macs(name) / 1e9, 3) == published_imagenet(name)["gmacs_published"]


def test_published_accuracy_is_labelled_with_its_source():
    pub = published_imagenet("resnet50")
    assert pub["top1"] == pytest.approx(76.13) and "IMAGENET1K_V1" in pub["source"]
    assert published_imagenet("cifar_cnn") is None


def test_summary_command_counts_macs(capsys):
    from zoo.cli import main

    assert main(["summary", "resnet18", "--depth", "1"]) == 0
    assert "1,814,073,344" in capsys.readouterr().out


def test_compare_command_prints_the_lecture_table(capsys):
    from zoo.cli import main

    assert main(["compare"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["name", "params", "GMACs", "top-1", "%", "top-5", "%", "lecture", "top-5", "%"]
    assert set(lines[1]) == {"-", " "}
    table = {cells[0]: cells[1:] for cells in map(str.split, lines[2:lines.index("")])}
    # one row per ImageNet-sized classifier (224 px, AlexNet's 227), the ensemble excluded
    imagenet = {n for n in zoo.list_models(task="classification")
                if zoo.get_spec(n).input_size[1:] in ((224, 224), (227, 227)) and n != "ensemble"}
    assert set(table) == imagenet and {"alexnet", "vgg16", "resnet152", "googlenet"} <= imagenet
    # params in millions, MACs counted here (torchvision publishes 1.81 G and 4.09 G for these two),
    # top-1/top-5 from torchvision's IMAGENET1K_V1 metadata, the lecture's top-5 where it gave one
    assert table["resnet18"] == ["11.7M", "1.81", "69.76", "89.08", "-"]
    assert table["resnet50"][:2] == ["25.6M", "4.09"]
    assert table["resnet152"][-1] == "95.51" and table["alexnet"][-1] == "84.70"
    assert table["alexnet_2012"][2:4] == ["-", "-"]  # no torchvision weights for the two-tower original
    for name, cells in table.items():
        assert cells[0] == f"{zoo.model_info(name)['num_params'] / 1e6:.1f}M", name
        assert cells[1] == f"{count_macs(name) / 1e9:.2f}", name
    assert "not measured here" in lines[-2]
