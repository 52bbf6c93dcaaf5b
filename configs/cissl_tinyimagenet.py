"""CISSL on TinyImageNet, ResNet-18 (CIFAR stem, 64 px): batch 512, tau 0.07, 300 epochs, Adam.

Set TINYIMAGENET_DIR to the extracted tiny-imagenet-200 folder (val/ arranged per class)."""

from sslhsic_tf.configs import common


def get_config():
    c = common.tinyimagenet("cissl", temperature=0.07)
    c.batch_size = 512
    c.optimizer.base_learning_rate = 1e-3  # 2e-3 at batch 512 (linear scaling per 256)
    c.export.name = "cissl_resnet18_tinyimagenet"
    return c
