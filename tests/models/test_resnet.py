"""ResNet encoders: parameter counts against an independent formula, shapes, errors, round trips."""

import keras
import numpy as np
import pytest
from keras.src.backend.common import global_state

from sslhsic_tf.models import BatchNorm, ImageNormalization, resnet, resnet_feature_dim

# ---------------------------------------------------------------- independent parameter count
# Standard ResNet v1 (torchvision layout, classifier removed), written from the architecture
# tables of He et al. 2016 rather than from sslhsic_tf's code.
_LAYOUT = {
    10: ("basic", [1, 1, 1, 1]),
    18: ("basic", [2, 2, 2, 2]),
    34: ("basic", [3, 4, 6, 3]),
    50: ("bottleneck", [3, 4, 6, 3]),
    101: ("bottleneck", [3, 4, 23, 3]),
    152: ("bottleneck", [3, 8, 36, 3]),
    200: ("bottleneck", [3, 24, 36, 3]),
}


def _conv(k, cin, cout):
    return k * k * cin * cout


def _bn(c):
    return 2 * c  # gamma and beta (the moving statistics are not trainable)


def expected_trainable_params(depth, width=1, cifar=False):
    kind, blocks = _LAYOUT[depth]
    stem = 64 * width
    total = _conv(3 if cifar else 7, 3, stem) + _bn(stem)
    cin = stem
    for stage, n in enumerate(blocks):
        mid = 64 * width * 2**stage
        cout = mid * 4 if kind == "bottleneck" else mid
        for b in range(n):
            stride = 2 if (stage > 0 and b == 0) else 1
            if kind == "basic":
                total += _conv(3, cin, mid) + _bn(mid) + _conv(3, mid, mid) + _bn(mid)
            else:
                total += _conv(1, cin, mid) + _bn(mid) + _conv(3, mid, mid) + _bn(mid)
                total += _conv(1, mid, cout) + _bn(cout)
            if stride != 1 or cin != cout:
                total += _conv(1, cin, cout) + _bn(cout)
            cin = cout
    return total


def _shape_only(build):
    """Builds a model without allocating or initialising its weights (shapes only).

    Inside a StatelessScope Keras defers variable initialisation; the deferred list is
    dropped before leaving the scope so nothing is ever allocated (these models are only
    inspected, never run).
    """
    with keras.StatelessScope():
        model = build()
        global_state.set_global_attribute("uninitialized_variables", [])
    return model


def _count(variables):
    return sum(int(np.prod(v.shape)) for v in variables)


def test_reference_counts_of_the_formula():
    # The published figures anchor the independent formula itself.
    assert expected_trainable_params(50) == 23_508_032
    assert expected_trainable_params(18) == 11_176_512


@pytest.mark.parametrize(
    "depth,width",
    [(10, 1), (18, 1), (34, 1), (50, 1), (101, 1), (152, 1), (200, 1), (18, 2), (50, 2), (50, 4),
     (34, 4), (10, 0.25)],
)
def test_trainable_parameter_counts(depth, width):
    model = _shape_only(lambda: resnet(depth, width))
    assert _count(model.trainable_variables) == expected_trainable_params(depth, width)
    assert model.output_shape == (None, resnet_feature_dim(depth, width))


def test_cifar_stem_parameter_count_and_feature_dims():
    model = _shape_only(lambda: resnet(18, cifar_stem=True))
    assert _count(model.trainable_variables) == expected_trainable_params(18, cifar=True)
    assert [resnet_feature_dim(d) for d in (10, 18, 34, 50, 101, 152, 200)] == [
        512, 512, 512, 2048, 2048, 2048, 2048
    ]
    assert resnet_feature_dim(18, 4) == 2048 and resnet_feature_dim(50, 2) == 4096


def test_stage_output_shapes_cifar_and_imagenet_stems():
    x = np.random.default_rng(0).uniform(size=(1, 32, 32, 3)).astype("float32")
    names = ["stem_relu", "stage1_block2_out", "stage2_block2_out", "stage3_block2_out",
             "stage4_block2_out"]
    for cifar, expected in [(True, [32, 32, 16, 8, 4]), (False, [16, 8, 4, 2, 1])]:
        model = resnet(18, cifar_stem=cifar)
        probe = keras.Model(model.input, [model.get_layer(n).output for n in names])
        outs = probe(x)
        assert [int(o.shape[1]) for o in outs] == expected
        assert [int(o.shape[-1]) for o in outs] == [64, 64, 128, 256, 512]
        assert ("stem_pool" in [l.name for l in model.layers]) is (not cifar)
        keras.backend.clear_session()


def test_forward_any_image_size_gives_float32_features():
    model = resnet(18, cifar_stem=True)
    rng = np.random.default_rng(1)
    for size in (8, 12):
        x = rng.uniform(size=(2, size, size, 3)).astype("float32")
        y = model(x, training=False)
        assert tuple(y.shape) == (2, 512)
        assert keras.backend.standardize_dtype(y.dtype) == "float32"
        y = keras.ops.convert_to_numpy(y)
        assert np.all(np.isfinite(y)) and np.all(y >= 0)  # pooled ReLU outputs
    bn = model.get_layer("stem_bn")
    assert isinstance(bn, BatchNorm) and bn.momentum == 0.9 and bn.epsilon == 1e-5
    before = bn.moving_mean.numpy().copy()
    model(rng.uniform(size=(2, 8, 8, 3)).astype("float32"), training=True)
    assert not np.allclose(before, bn.moving_mean.numpy())


def test_input_is_normalised_inside_by_imagenet_statistics():
    model = resnet(18, cifar_stem=True)
    norm = model.get_layer("normalize")
    assert isinstance(norm, ImageNormalization)
    assert norm.mean == (0.485, 0.456, 0.406) and norm.std == (0.229, 0.224, 0.225)
    # Same weights without the internal normalisation, fed pre-normalised images.
    raw = resnet(18, cifar_stem=True, normalize_input=False)
    assert "normalize" not in [l.name for l in raw.layers]
    raw.set_weights(model.get_weights())
    x = np.random.default_rng(2).uniform(size=(2, 8, 8, 3)).astype("float32")
    pre = (x - np.array(norm.mean)) / np.array(norm.std)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model(x)),
        keras.ops.convert_to_numpy(raw(pre.astype("float32"))),
        rtol=1e-4, atol=1e-5,
    )
    custom = _shape_only(lambda: resnet(18, input_mean=(0.5,), input_std=(0.5,),
                                        input_shape=(None, None, 1)))
    assert custom.get_layer("normalize").mean == (0.5,)
    assert custom.input_shape == (None, None, None, 1)


def test_zero_init_residual_and_bn_options():
    model = resnet(18, cifar_stem=True, zero_init_residual=True, bn_momentum=0.99,
                   bn_epsilon=1e-3)
    for block in ("stage1_block1", "stage4_block2"):
        np.testing.assert_array_equal(model.get_layer(f"{block}_bn2").gamma.numpy(), 0.0)
        np.testing.assert_array_equal(model.get_layer(f"{block}_bn1").gamma.numpy(), 1.0)
    assert model.get_layer("stem_bn").momentum == 0.99
    assert model.get_layer("stage2_block1_proj_bn").epsilon == 1e-3
    deep = _shape_only(lambda: resnet(50, zero_init_residual=True))
    init = lambda name: deep.get_layer(name).get_config()["gamma_initializer"]["class_name"]  # noqa
    assert init("stage1_block1_bn3") == "Zeros" and init("stage1_block1_bn2") == "Ones"


def test_default_names():
    assert _shape_only(lambda: resnet(50)).name == "resnet50"
    assert _shape_only(lambda: resnet(18, 2, cifar_stem=True)).name == "resnet18_x2_cifar"
    assert _shape_only(lambda: resnet(18, name="enc")).name == "enc"


@pytest.mark.parametrize("depth", [0, 20, 49, "50", 50.0, True])
def test_invalid_depth(depth):
    with pytest.raises(ValueError, match="`depth` must be one of"):
        resnet(depth)
    with pytest.raises(ValueError, match="`depth`"):
        resnet_feature_dim(depth)


@pytest.mark.parametrize("width", [0, -1, 0.3, "2", True])
def test_invalid_width(width):
    with pytest.raises(ValueError, match="`width_multiplier` must be a positive number w such that 64"):
        resnet(18, width)


def test_fractional_width_scales_every_stage():
    """w = 0.25 (a CPU-sized model): channels 16, 32, 64, 128 and F = 128."""
    model = resnet(18, 0.25, cifar_stem=True)
    assert model.output_shape == (None, 128) and resnet_feature_dim(18, 0.25) == 128
    convs = [l for l in model.layers if isinstance(l, keras.layers.Conv2D)]
    assert sorted({l.filters for l in convs}) == [16, 32, 64, 128]
    assert model.name == "resnet18_x0.25_cifar"


def test_invalid_options():
    with pytest.raises(TypeError, match="cifar_stem"):
        resnet(18, cifar_stem="yes")
    with pytest.raises(ValueError, match="input_shape"):
        resnet(18, input_shape=(32, 32))
    with pytest.raises(ValueError, match="channel"):
        resnet(18, input_shape=(None, None, 1))  # ImageNet statistics have 3 channels


def test_keras_round_trip_and_clone(tmp_path):
    model = resnet(18, cifar_stem=True)
    x = np.random.default_rng(3).uniform(size=(2, 8, 8, 3)).astype("float32")
    model(x, training=True)  # move the BN statistics away from their initial values
    expected = keras.ops.convert_to_numpy(model(x, training=False))
    path = tmp_path / "resnet18.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded(x, training=False)), expected)
    assert loaded.name == model.name
    # clone_model (what the EMA target network uses) gives the same architecture
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(clone(x, training=False)), expected, rtol=1e-6, atol=1e-6
    )
    assert isinstance(clone.get_layer("stem_bn"), BatchNorm)


def test_mixed_precision_features_are_float32():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = resnet(18, cifar_stem=True)
        y = model(np.random.default_rng(4).uniform(size=(2, 8, 8, 3)).astype("float32"))
        assert model.get_layer("stem_conv").compute_dtype == "float16"
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert keras.backend.standardize_dtype(y.dtype) == "float32"
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(y)))


def _np_conv(x, kernel, stride, pad_before, pad_after):
    """Cross-correlation of x [H, W, Cin] with kernel [k, k, Cin, Cout], NumPy, zero padding."""
    k = kernel.shape[0]
    xp = np.pad(x, [(pad_before, pad_after), (pad_before, pad_after), (0, 0)])
    size = (xp.shape[0] - k) // stride + 1
    out = np.zeros((size, size, kernel.shape[-1]))
    for i in range(size):
        for j in range(size):
            patch = xp[i * stride:i * stride + k, j * stride:j * stride + k]
            out[i, j] = np.tensordot(patch, kernel, axes=3)
    return out


@pytest.mark.parametrize("padding, before, after", [("symmetric", 1, 1), ("same", 0, 1)])
def test_strided_convolution_padding_against_numpy(padding, before, after):
    """"symmetric" centres the stride-2 3x3 window of output i on input 2i, where the 1x1
    shortcut samples (torchvision); TensorFlow's SAME centres it on 2i + 1 (issue 17)."""
    model = resnet(18, 0.25, cifar_stem=True, padding=padding)
    conv = model.get_layer("stage2_block1_conv1")
    block_input = model.get_layer("stage1_block2_out").output
    probe = keras.Model(model.input, [block_input, conv.output])
    images = np.random.default_rng(0).random((1, 32, 32, 3)).astype(np.float32)
    x, y = (keras.ops.convert_to_numpy(t) for t in probe(images))
    want = _np_conv(x[0].astype(np.float64), keras.ops.convert_to_numpy(conv.kernel), 2,
                    before, after)
    np.testing.assert_allclose(y[0], want, rtol=1e-4, atol=1e-4)
    # The shortcut samples input pixel 2i in both cases.
    assert model.get_layer("stage2_block1_proj_conv").kernel.shape[:2] == (1, 1)


def test_padding_option_is_checked_and_keeps_the_parameters():
    with pytest.raises(ValueError, match=r"`padding` must be one of \('symmetric', 'same'\)"):
        resnet(18, padding="valid")
    for depth, stem in ((18, True), (50, False)):
        a, b = resnet(depth, 0.25, cifar_stem=stem), resnet(depth, 0.25, cifar_stem=stem,
                                                            padding="symmetric")
        assert a.count_params() == b.count_params()
        images = np.zeros((2, 64, 64, 3), np.float32)
        assert b(images).shape == a(images).shape
