"""CIFAR-10, ResNet-18 (CIFAR stem), dissl: the shared JPEG copy, recipes.md's CIFAR augmentations,
batch 256, 1000 epochs (shorten with --config.epochs=...)."""

from sslhsic_tf.configs import common


def get_config():
    c = common.cifar10("dissl", num_clusters=4096)  # C scaled to 50k images
    c.export.name = "dissl_resnet18_cifar10"
    return c
