"""CIFAR-10, ResNet-18 (CIFAR stem), ssl_hsic_no_target: TFDS cifar10 (a local copy with
--config.data.dataset=cifar10_archive:PATH), recipes.md's CIFAR augmentations, batch 256, 1000
epochs (shorten with --config.epochs=...).

The paper's second variant: M = 2 lists of online projections, no predictor, no EMA target. The
projector ends in BatchNorm (`projector_output_bn=True`, the variant's default since the collapse fix, docs/no_target_collapse.md):
with the BYOL projector the projections fall together within 15 steps and HSIC(Z, Y) sits at
its collapse level 1/(M - 1) (benchmarks/ssl_hsic_collapse.py shows the measurements).
"""

from sslhsic_tf.configs import common


def get_config():
    c = common.cifar10("ssl_hsic_no_target")
    c.export.name = "ssl_hsic_no_target_resnet18_cifar10"
    return c
