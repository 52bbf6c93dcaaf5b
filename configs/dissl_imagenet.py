"""DISSL on ImageNet, ResNet-50: 2 x 224 crops, batch 2560, 100 epochs, LARS (recipes.md).

Data: TFDS imagenet2012 (point data.train/test at your copy: "tfds:imagenet2012:train:DATA_DIR")."""

from sslhsic_tf.configs import common


def get_config():
    c = common.issl_imagenet("dissl", multicrop=False, epochs=100, beta=0.6)
    c.export.name = "dissl_resnet50_imagenet"
    return c
