"""CIFAR-10, ResNet-18 x1 (CIFAR stem), SSL-HSIC with its EMA target, on one GPU under JAX in a
wall-clock budget: the recipe of the zoo entry `ssl_hsic_resnet18_cifar10_150ep`.

The data is decoded once (pillow, worker processes) and held on the GPU; each step gathers its
batch and augments it inside the jitted step (`data.on_device`, training/device_loop.py; no
TensorFlow needed). Batch 512, `mixed_bfloat16`, the CIFAR recipe (LARS lr 1.0 x B/256, trust
0.02, weight decay 1e-5; the cifar10 views), learning-rate warmup 4% of the run (the 1000-epoch
recipe's 1% is a fraction of an epoch in a run of minutes), bandwidth learning rate 0.01. The
budget (`budget.minutes`, from the command's start) fixes the run's length: the schedules are
fitted to the measured speed so that they end with it.

    KERAS_BACKEND=jax sslhsic-pretrain --config=cifar10_ssl_hsic_gpu --workdir=OUT \\
        --config.data.dataset=cifar10_archive:PATH/cifar10_jpeg_q75.tar.gz --config.budget.minutes=8
    sslhsic-export --workdir=OUT --name=ssl_hsic_resnet18_cifar10_gpu --zoo   # with TensorFlow

Expected (one NVIDIA H200, JAX 0.11, 8 minutes in all: about 150 epochs in 250 s of training at
about 30,000 img/s): kNN top-1 about 65% (k = 200, cosine) on the CIFAR-10 test split.
`cifar10_byol_gpu` trains BYOL in the same harness. On a CPU the same command runs at
smoke size in the tests (tests/jax_backend/test_without_tensorflow.py).
"""

from sslhsic_tf.configs import common


def get_config():
    return common.cifar10_gpu("ssl_hsic", bandwidth_learning_rate=1e-2)
