"""CIFAR-10, ResNet-18 (CIFAR stem), DISSL: the shared JPEG copy, batch 256, 1000 epochs (shorten
with --config.epochs=...), C = 4,096 (16,384 for TinyImageNet's 100,000 images, scaled to 50,000).

Two settings differ from the TinyImageNet recipe's letter, both measured on the 40-epoch schedule
of ResNet-18 x0.25 (docs/zoo_cpu_runs.md): the ISSL recipe's own augmentations at 32 px
(`issl_cifar10`: crop scale (0.2, 1), jitter 0.4/0.4/0.4/0.1, grayscale 0.1, no solarize) instead
of the CIFAR pair of the other methods, and Adam at 1e-3 instead of 2e-3. With the CIFAR pair
(crop scale (0.08, 1)) the teacher grew confident faster than invariant: the cross-entropy
between its two views rose above log C, the epoch's mean loss rose, and the kNN monitor sat at
32-37% for 14 epochs (2e-3: 32.5 / 32.3 at epochs 2 / 4; 1e-3: 35.5 at 2, 36.7 at 14). With
`issl_cifar10` at 1e-3: 39.1 / 46.3 at epochs 2 / 4, the loss falling from the first epoch.

    python -m sslhsic_tf.pretrain --config=configs/cifar10_dissl.py --workdir=RUNS/dissl_40ep \\
        --config.data.dataset=cifar10_archive:../shared/data/cifar10/cifar10_jpeg_q75.tar.gz \\
        --config.epochs=40 --config.model.width_multiplier=0.25
"""

from sslhsic_tf.configs import common


def get_config():
    c = common.cifar10("dissl", num_clusters=4096)
    c.data.views = "issl_cifar10"
    c.optimizer.base_learning_rate = 1e-3
    c.export.name = "dissl_resnet18_cifar10"
    return c
