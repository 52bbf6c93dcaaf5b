"""CISSL on ImageNet, ResNet-50: 2 x 160 + 4 x 96 crops (multi-crop), batch 2560, 100 epochs, LARS (recipes.md).

Data: TFDS imagenet2012 (point data.train/test at your copy: "tfds:imagenet2012:train:DATA_DIR")."""

from sslhsic_tf.configs import common


def get_config():
    c = common.issl_imagenet("cissl", multicrop=True, epochs=100, temperature=0.1)
    c.export.name = "cissl_resnet50_imagenet_multicrop"
    return c
