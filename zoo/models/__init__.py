"""Architectures, one module per family. Importing this package registers them all."""

from zoo.models import (  # noqa: F401
    alexnet,
    cifar,
    course,
    densenet,
    efficientnet,
    ensemble,
    fcn,
    fcn_effnet,
    googlenet,
    lenet,
    resnet,
    resnet_cifar_he,
    speedrun,
    vgg,
)
