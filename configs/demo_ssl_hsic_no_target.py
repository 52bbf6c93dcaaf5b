"""The CPU demo with SSL-HSIC *without* a target network (M = 2 lists of online projections, no
predictor, no EMA): the embedded CIFAR-10 subset, a quarter-width ResNet-18, the demo's heads,
LARS and learned IMQ bandwidth; the projector ends in BatchNorm (the no-target variant's default
since the collapse fix, docs/no_target_collapse.md: without it the run collapses within 15 steps, see benchmarks/ssl_hsic_collapse.py).

    python -m sslhsic_tf.pretrain --config=demo_ssl_hsic_no_target --workdir=runs/demo_no_target

Expected: kNN top-1 at least 5 points above the random encoder. Measured (200 steps, seed 0):
kNN 40.7% vs 25.5% for the random encoder (+15.2), linear 44.4% vs 29.9%; 22 minutes of training
on 2 cores shared with three other jobs (about 5 minutes on idle cores, as the main demo).
"""

from sslhsic_tf.configs import common, demo


def get_config():
    c = demo.get_config()
    c.method = "ssl_hsic_no_target"
    c.method_kwargs = common.method_kwargs(
        "ssl_hsic_no_target", projector_hidden=1024, projection_dim=128,
        bandwidth_learning_rate=1e-2)
    c.export.name = "ssl_hsic_no_target_resnet18x0.25_cifar10demo"
    return c
