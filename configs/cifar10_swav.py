"""CIFAR-10, ResNet-18 (CIFAR stem), swav: batch 256, 1000 epochs (shorten with --config.epochs).

SwAV as the public CIFAR recipes run it (solo-learn): 3000 prototypes, projector 2048 -> 128,
temperature 0.1, Sinkhorn epsilon 0.05 with 3 iterations, prototypes frozen for the first two
epochs (0.2% of 1000), two 32-px crops with the torchvision colour jitter
(`cifar10_symmetric`), the CIFAR LARS settings of every LARS method here. The queue
(`--config.method_kwargs.queue_length=3840`) is off: at batch 256 the batch balances the codes.

    python -m sslhsic_tf.pretrain --config=cifar10_swav --workdir=runs/swav \\
        --config.epochs=3 --config.model.width_multiplier=0.25
"""

from sslhsic_tf.configs import common


def get_config():
    c = common.cifar10("swav", num_prototypes=3000, freeze_prototypes_fraction=0.002)
    c.data.views = "cifar10_symmetric"
    c.export.name = "swav_resnet18_cifar10"
    return c
