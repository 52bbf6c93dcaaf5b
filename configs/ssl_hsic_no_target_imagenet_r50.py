"""SSL-HSIC without a target network, ImageNet ResNet-50: the reference recipe (recipes.md).

Batch 4096, 1000 epochs, LARS (momentum 0.9, trust 1e-3, weight decay 1e-6, biases and
normalisation parameters excluded), lr 0.4 x batch/256 with 10 warmup epochs then cosine, no
target network or predictor, IMQ kernel with 512 random features, gamma 3, learned bandwidth (Adam 3e-4).
One departure: the projector ends in BatchNorm (the no-target default since the collapse fix, docs/no_target_collapse.md, which keeps
the variant from collapsing on CIFAR-10); --config.method_kwargs.projector_output_bn=False gives
the reference's projector exactly.
Data: TFDS imagenet2012 (point data.train/test at your copy: "tfds:imagenet2012:train:DATA_DIR").
"""

from sslhsic_tf.configs import common


def get_config():
    c = common.ssl_hsic_imagenet("ssl_hsic_no_target")
    c.export.name = "ssl_hsic_no_target_resnet50_imagenet"
    return c
