"""SimCLR on TinyImageNet, ResNet-18 (CIFAR stem, 64 px), for the seed comparison CISSL vs
SimCLR (the ISSL paper's baseline): the same data, crops, 300 epochs and Adam recipe as
`cissl_tinyimagenet`, temperature 0.07 and output dimension 128 as CISSL's.

Set TINYIMAGENET_DIR to the extracted tiny-imagenet-200 folder (val/ arranged per class)."""

from sslhsic_tf.configs import common


def get_config():
    c = common.tinyimagenet("simclr", temperature=0.07, projection_dim=128)
    c.batch_size = 512
    c.optimizer.base_learning_rate = 1e-3  # CISSL's: 2e-3 at batch 512
    c.export.name = "simclr_resnet18_tinyimagenet"
    return c
