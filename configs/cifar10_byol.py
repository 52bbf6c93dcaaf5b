"""CIFAR-10, ResNet-18 (CIFAR stem), byol: the shared JPEG copy, recipes.md's CIFAR augmentations,
batch 256, 1000 epochs (shorten with --config.epochs=...)."""

from sslhsic_tf.configs import common


def get_config():
    c = common.cifar10("byol")
    c.export.name = "byol_resnet18_cifar10"
    return c
