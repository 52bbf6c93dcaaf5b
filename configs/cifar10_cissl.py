"""CIFAR-10, ResNet-18 (CIFAR stem), cissl: the shared JPEG copy, recipes.md's CIFAR augmentations,
batch 256, 1000 epochs (shorten with --config.epochs=...)."""

from sslhsic_tf.configs import common


def get_config():
    c = common.cifar10("cissl")
    c.export.name = "cissl_resnet18_cifar10"
    return c
