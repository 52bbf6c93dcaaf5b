"""The CPU demo (the default of `python -m sslhsic_tf.pretrain`): SSL-HSIC with a target network
on the embedded CIFAR-10 subset (5,000 train / 1,000 test images), a quarter-width ResNet-18,
learned IMQ bandwidth, mixed_precision="auto". About 9-15 minutes on 2 CPU cores, then kNN and
linear probe against a random encoder, and export."""

from sslhsic_tf.configs import common


def get_config():
    c = common.base()
    c.method = "ssl_hsic"
    c.method_kwargs = common.method_kwargs(
        "ssl_hsic", projector_hidden=1024, projection_dim=128, predictor_hidden=1024,
        # A short run: the bandwidth must move within a few hundred steps (objectives.md).
        bandwidth_learning_rate=1e-2,
    )
    c.model.update({"depth": 18, "width_multiplier": 0.25, "cifar_stem": True})
    # LARS as in solo-learn's CIFAR recipes (trust 0.02, lr 1.0): the reference's trust 1e-3
    # moves a layer by ~lr·1e-3 of its norm per step, far too little for ~200 steps.
    c.optimizer.update({"base_learning_rate": 1.0, "trust_coefficient": 0.02, "weight_decay": 1e-5})
    c.batch_size = 256
    c.epochs = 10.0
    c.mixed_precision = "auto"  # as the CIFAR-10 presets (configs/common.py)
    c.checkpoint_every_steps = 20
    c.eval.protocols = ("knn", "linear_lbfgs")
    c.export.name = "ssl_hsic_resnet18x0.25_cifar10demo"
    return c
