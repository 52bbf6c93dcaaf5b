"""DISSL on ImageNet, ResNet-50: 2 x 160 + 4 x 96 crops (multi-crop), batch 2560, 400 epochs, LARS (recipes.md).

Data: TFDS imagenet2012 (point data.train/test at your copy: "tfds:imagenet2012:train:DATA_DIR")."""

from sslhsic_tf.configs import common


def get_config():
    c = common.issl_imagenet("dissl", multicrop=True, epochs=400, beta=0.6)
    c.export.name = "dissl_resnet50_imagenet_multicrop"
    return c
