"""CIFAR-10, ResNet-18 (CIFAR stem), simclr: the shared JPEG copy, batch 256, 1000 epochs (shorten
with --config.epochs=...).

SimCLR as the public CIFAR recipes run it (solo-learn, lightly): temperature 0.2, the SimCLR v2
projector 2048 -> 256 with BatchNorm on its output, a ResNet padded as torchvision's (strided 3x3
windows centred where the 1x1 shortcut samples), one augmentation pipeline for both crops
(torchvision colour jitter 0.4/0.4/0.2/0.1 p 0.8, grayscale 0.2, no blur, no solarize), LARS
lr 1.0 x batch/256 with trust 0.02 and weight decay 1e-5.

    python -m sslhsic_tf.pretrain --config=configs/cifar10_simclr.py --workdir=runs/simclr \\
        --config.epochs=3 --config.model.width_multiplier=0.25

Expected (ResNet-18 x0.25, 3 epochs = 585 steps, 2-core CPU): kNN top-1 (k = 200,
cosine, T = 0.07) about 51% on the CIFAR-10 test split, as an independent PyTorch + lightly build
of the same recipe (51.2%).
"""

from sslhsic_tf.configs import common


def get_config():
    c = common.cifar10("simclr", temperature=0.2, projection_dim=256)
    c.data.views = "cifar10_symmetric"
    c.export.name = "simclr_resnet18_cifar10"
    return c
