"""DINO on TinyImageNet, ResNet-18 (CIFAR stem, 64 px), for the seed comparison DISSL vs DINO
(the ISSL paper's baseline): the same data, crops, 300 epochs and Adam 2e-3 recipe as
`dissl_tinyimagenet`, K = 16384 outputs (DISSL's C), teacher momentum 0.996 -> 1.

Set TINYIMAGENET_DIR to the extracted tiny-imagenet-200 folder (val/ arranged per class)."""

from sslhsic_tf.configs import common


def get_config():
    c = common.tinyimagenet("dino", out_dim=16384)
    c.batch_size = 256
    c.optimizer.base_learning_rate = 2e-3
    c.export.name = "dino_resnet18_tinyimagenet"
    return c
