"""CISSL on ImageNet, ResNet-50: 2 x 224 crops, batch 2560, 100 epochs, LARS (recipes.md).

Data: TFDS imagenet2012 (point data.train/test at your copy: "tfds:imagenet2012:train:DATA_DIR")."""

from sslhsic_tf.configs import common


def get_config():
    c = common.issl_imagenet("cissl", multicrop=False, epochs=100, temperature=0.1)
    c.export.name = "cissl_resnet50_imagenet"
    return c
