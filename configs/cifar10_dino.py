"""CIFAR-10, ResNet-18 (CIFAR stem), dino: batch 256, 1000 epochs (shorten with --config.epochs).

DINO as the public CIFAR recipes run it (solo-learn): K = 4096 outputs behind a 2048-2048-256
MLP, teacher momentum 0.99 -> 1, teacher temperature 0.04 -> 0.07 over the first 5% of
training, student temperature 0.1, the last layer frozen for the first epoch (0.1% of 1000),
two 32-px crops with the torchvision colour jitter (`cifar10_symmetric`), the CIFAR LARS
settings of every LARS method here (lr 1.0 x batch/256, trust 0.02, weight decay 1e-5).

    python -m sslhsic_tf.pretrain --config=cifar10_dino --workdir=runs/dino \\
        --config.epochs=3 --config.model.width_multiplier=0.25
"""

from sslhsic_tf.configs import common


def get_config():
    c = common.cifar10("dino", out_dim=4096, tau_base=0.99,
                       teacher_temperature_warmup_fraction=0.05,
                       freeze_last_layer_fraction=0.001)
    c.data.views = "cifar10_symmetric"
    c.export.name = "dino_resnet18_cifar10"
    return c
