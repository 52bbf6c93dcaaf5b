"""DISSL on TinyImageNet, ResNet-18 (CIFAR stem, 64 px): batch 256, C = 16384, lambda 2.3,
beta 0.8, teacher/student temperatures 0.5/1.0, 300 epochs, Adam 2e-3.

Set TINYIMAGENET_DIR to the extracted tiny-imagenet-200 folder (val/ arranged per class)."""

from sslhsic_tf.configs import common


def get_config():
    c = common.tinyimagenet("dissl", num_clusters=16384, lam=2.3, beta=0.8)
    c.batch_size = 256
    c.optimizer.base_learning_rate = 2e-3
    c.export.name = "dissl_resnet18_tinyimagenet"
    return c
