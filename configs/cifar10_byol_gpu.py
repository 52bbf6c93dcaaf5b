"""CIFAR-10, ResNet-18 x1 (CIFAR stem), BYOL on one GPU under JAX in a wall-clock budget: the
harness of `cifar10_ssl_hsic_gpu` (its docstring, docs/gpu_run.md) with BYOL, the CIFAR EMA base
0.99, to tell the objective's share of a gap from the pipeline's.

    KERAS_BACKEND=jax sslhsic-pretrain --config=cifar10_byol_gpu --workdir=OUT \\
        --config.data.dataset=cifar10_archive:PATH/cifar10_jpeg_q75.tar.gz --config.budget.minutes=8

Expected: not measured yet (no GPU call since the harness moved into the library).
"""

from sslhsic_tf.configs import common


def get_config():
    return common.cifar10_gpu("byol", tau_base=0.99)
