"""The analytic FLOP count of benchmarks/accelerator.py against ResNet arithmetic done by hand."""

import math

import pytest

from benchmarks import accelerator
from sslhsic_tf import models
from sslhsic_tf.models import heads


def _resnet_macs_by_hand(depth, image_size, cifar_stem):
    """Conv multiply-adds per image of ResNet v1 (stride on the 3x3 conv), from its definition."""
    kind, blocks = {18: ("basic", (2, 2, 2, 2)), 50: ("bottleneck", (3, 4, 6, 3))}[depth]
    if cifar_stem:
        h = image_size
        macs = h * h * (3 * 3 * 3) * 64
    else:
        h = math.ceil(image_size / 2)
        macs = h * h * (7 * 7 * 3) * 64
        h = math.ceil(h / 2)  # 3x3/2 max-pool
    c = 64
    for stage, (width, n) in enumerate(zip((64, 128, 256, 512), blocks)):
        for block in range(n):
            stride = 2 if stage > 0 and block == 0 else 1
            out_h = math.ceil(h / stride)
            if kind == "basic":
                out_c = width
                macs += out_h * out_h * 9 * c * width + out_h * out_h * 9 * width * width
            else:
                out_c = 4 * width
                macs += (h * h * c * width + out_h * out_h * 9 * width * width
                         + out_h * out_h * width * out_c)
            if stride != 1 or c != out_c:  # 1x1 projection shortcut
                macs += out_h * out_h * c * out_c
            h, c = out_h, out_c
    return macs


@pytest.mark.parametrize("depth,size,cifar,published", [
    (50, 224, False, 4.089e9 - 2048 * 1000),  # torchvision: 4.09 GMACs with its 2048x1000 fc
    (18, 224, False, 1.814e9 - 512 * 1000),   # torchvision: 1.81 GMACs with its 512x1000 fc
    (18, 32, True, None),
])
def test_encoder_macs_match_the_hand_count(depth, size, cifar, published):
    encoder = models.resnet(depth, 1, cifar, input_shape=(size, size, 3))
    macs = accelerator.conv_dense_macs(encoder)
    assert macs == _resnet_macs_by_hand(depth, size, cifar)
    if published is not None:
        assert macs == pytest.approx(published, rel=5e-3)


def test_head_macs_and_step_flops():
    projector = heads.byol_projector(hidden_dim=64, output_dim=16)
    projector.build((None, 32))
    assert accelerator.conv_dense_macs(projector) == 32 * 64 + 64 * 16
    e, b = 1000, 8
    # Without heads, the SSL step is exactly the compute-equivalent supervised step: online
    # forward + backward (3 x forward) on 2B views plus the target's forward on 2B views.
    assert (accelerator.step_flops("ssl_hsic", b, e)
            == accelerator.step_flops("supervised", b, e) + accelerator.step_flops("forward", b, e)
            == 2 * 4 * 2 * b * e)
    assert accelerator.step_flops("ssl_hsic", b, e, projector=10, predictor=20, classifier=3) == (
        2 * (3 * 2 * b * (e + 30) + 2 * b * (e + 10) + 3 * b * 3))
    with pytest.raises(ValueError, match="config must be one of"):
        accelerator.step_flops("byol", b, e)


def test_encoder_without_a_fixed_size_is_refused():
    encoder = models.resnet(18, 0.125, True)
    with pytest.raises(ValueError, match="stem_conv has no static output size"):
        accelerator.conv_dense_macs(encoder)
