"""CIFAR-10, ResNet-18 (CIFAR stem), simclr: the shared JPEG copy, batch 256, 1000 epochs (shorten
with --config.epochs=...).

SimCLR as the public CIFAR recipes run it (solo-learn, lightly): temperature 0.2, the SimCLR v2
projector 2048 -> 256 with BatchNorm on its output and lightly's initialisation (PyTorch's
nn.Linear default: `projector_init="torch"`), a ResNet padded as torchvision's (strided 3x3
windows centred where the 1x1 shortcut samples), one augmentation pipeline for both crops
(torchvision colour jitter 0.4/0.4/0.2/0.1 p 0.8, grayscale 0.2, no blur, no solarize), and
lightly's CIFAR-10 optimiser (`common.sgd_recipe`): SGD, momentum 0.9, weight decay 5e-4
coupled as torch's, lr 0.12 x batch/256, cosine, no warmup.

    python -m sslhsic_tf.pretrain --config=configs/cifar10_simclr.py --workdir=runs/simclr \\
        --config.epochs=100 --config.model.width_multiplier=0.25

Expected (ResNet-18 x0.25, the 100-epoch schedule stopped after 15 epochs with
--config.stop_after_epochs=15, seed 0, bf16 on a CPU with AVX-512 BF16, 0.79 CPU-hours): kNN
top-1 (k = 200, cosine, T = 0.07) 62.6% on the 10,000 test images; the monitor (first 5,000)
reads 51.6, 56.6, 57.7, 59.6, 60.8, 62.0, 62.4 at epochs 2-14, within 1.5 points of the PyTorch
+ lightly build on the same recipe at each (seed 1: the same within 1.2). The former LARS
settings (lr 1.0 x batch/256, trust 0.02, weight decay 1e-5, 1% warmup; give them as
--config.optimizer.* to resume a run of before) stall near 50% (49.7% at epoch 15, float32);
docs/long_runs.md.
"""

from sslhsic_tf.configs import common


def get_config():
    c = common.cifar10("simclr", temperature=0.2, projection_dim=256, projector_init="torch")
    c.data.views = "cifar10_symmetric"
    c.export.name = "simclr_resnet18_cifar10"
    return c
