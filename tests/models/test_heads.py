"""Heads: shapes, parameter counts against formulas, numerics, float32 outputs, round trips."""

import keras
import numpy as np
import pytest

from sslhsic_tf.models import (
    MLP,
    BatchNorm,
    byol_predictor,
    byol_projector,
    cissl_student,
    cissl_teacher,
    dissl_student,
    dissl_teacher,
    linear_probe,
)


def _count(variables):
    return sum(int(np.prod(v.shape)) for v in variables)


def _linear(d_in, d_out, bias=True):
    return d_in * d_out + (d_out if bias else 0)


# (factory, input dim D, expected output dim, trainable count formula, BN widths)
D = 24
CASES = {
    "byol_projector": (
        lambda: byol_projector(32, 8), 8,
        _linear(D, 32) + 2 * 32 + _linear(32, 8, bias=False), [32],
    ),
    "byol_predictor": (
        lambda: byol_predictor(32, 8), 8,
        _linear(D, 32) + 2 * 32 + _linear(32, 8, bias=False), [32],
    ),
    "cissl_student_linear": (
        lambda: cissl_student(8), 8, _linear(D, 8) + 2 * 8, [8],
    ),
    "cissl_student_mlp": (
        lambda: cissl_student(8, probe="mlp", hidden_dim=16), 8,
        _linear(D, 16) + 2 * 16 + _linear(16, 8) + 2 * 8, [16, 8],
    ),
    "cissl_teacher": (
        lambda: cissl_teacher(16, 8), 8, _linear(D, 16) + 2 * 16 + _linear(16, 8) + 2 * 8, [16, 8],
    ),
    "dissl_teacher": (
        lambda: dissl_teacher(num_clusters=40, hidden_dim=16, bottleneck_dim=12), 40,
        _linear(D, 16) + 2 * 16 + _linear(16, 12) + 2 * 12 + _linear(12, 40), [16, 12],
    ),
    "dissl_student": (
        lambda: dissl_student(num_clusters=40, bottleneck_dim=12), 40,
        _linear(D, 12) + 2 * 12 + _linear(12, 40), [12],
    ),
    "linear_probe": (lambda: linear_probe(10), 10, _linear(D, 10), []),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_head_shapes_and_parameter_counts(case):
    factory, out_dim, trainable, bn_widths = CASES[case]
    head = factory()
    y = head(np.random.default_rng(0).normal(size=(4, D)).astype("float32"), training=True)
    assert tuple(y.shape) == (4, out_dim)
    assert keras.backend.standardize_dtype(y.dtype) == "float32"
    assert _count(head.trainable_variables) == trainable
    assert _count(head.non_trainable_variables) == 2 * sum(bn_widths)  # moving mean/variance
    assert head.compute_output_shape((None, 7, D)) == (None, 7, out_dim)


def test_paper_sizes():
    """Default sizes are the papers': counted on shapes only (no forward pass)."""
    proj = byol_projector()
    proj.build((None, 2048))
    assert _count(proj.trainable_variables) == 2048 * 4096 + 4096 + 2 * 4096 + 4096 * 256
    pred = byol_predictor()
    pred.build((None, 256))
    assert _count(pred.trainable_variables) == 256 * 4096 + 4096 + 2 * 4096 + 4096 * 256
    student = dissl_student()
    student.build((None, 512))
    assert student.units == [512, 16384]
    assert _count(student.trainable_variables) == 512 * 512 + 512 + 2 * 512 + 512 * 16384 + 16384
    teacher = dissl_teacher()
    assert teacher.units == [1024, 512, 16384]
    assert teacher.batch_norm == [True, True, False] and teacher.activation == ["relu", None, None]
    assert cissl_teacher().units == [1024, 128] and cissl_student().units == [128]
    assert cissl_student().batch_norm == [True]


def test_mlp_matches_numpy():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 5)).astype("float32")
    mlp = MLP([7, 3], use_bias=[True, False], batch_norm=[True, False], activation=["relu", None])
    y = keras.ops.convert_to_numpy(mlp(x, training=True))
    k0, b0 = mlp.dense_layers[0].kernel.numpy(), mlp.dense_layers[0].bias.numpy()
    k1 = mlp.dense_layers[1].kernel.numpy()
    h = x.astype("float64") @ k0 + b0
    h = (h - h.mean(0)) / np.sqrt(h.var(0) + 1e-5)  # gamma 1, beta 0 at initialisation
    h = np.maximum(h, 0.0)
    np.testing.assert_allclose(y, h @ k1, rtol=1e-4, atol=1e-5)
    assert mlp.dense_layers[1].bias is None
    assert isinstance(mlp.norm_layers[0], BatchNorm) and mlp.norm_layers[1] is None
    assert mlp.norm_layers[0].momentum == 0.9 and mlp.norm_layers[0].epsilon == 1e-5


def test_mlp_broadcasts_scalar_options():
    mlp = MLP([4, 4, 2], use_bias=False, batch_norm=True, activation="gelu")
    assert mlp.use_bias == [False] * 3 and mlp.batch_norm == [True] * 3
    assert mlp.activation == ["gelu"] * 3
    assert MLP(5).units == [5]


def test_config_round_trip_gives_identical_outputs(tmp_path):
    head = dissl_teacher(num_clusters=9, hidden_dim=6, bottleneck_dim=5, name="t",
                         bn_momentum=0.99, bn_epsilon=1e-3)
    x = np.random.default_rng(2).normal(size=(4, 3)).astype("float32")
    head(x, training=True)
    config = head.get_config()
    clone = MLP.from_config(config)
    assert clone.get_config() == config
    clone.build((None, 3))
    clone.set_weights(head.get_weights())
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(clone(x)), keras.ops.convert_to_numpy(head(x))
    )
    assert clone.norm_layers[0].momentum == 0.99 and clone.norm_layers[1].epsilon == 1e-3
    # inside a saved model
    inputs = keras.Input((3,))
    model = keras.Model(inputs, head(inputs))
    model.save(tmp_path / "head.keras")
    loaded = keras.models.load_model(tmp_path / "head.keras")
    assert isinstance(loaded.layers[-1], MLP)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(model(x))
    )


def test_mixed_precision_hidden_layers_follow_policy_output_is_float32():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        head = byol_projector(16, 4)
        y = head(np.random.default_rng(3).normal(size=(4, 8)).astype("float32"), training=True)
        probe = linear_probe(3)
        logits = probe(np.ones((2, 8), "float16"))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert head.dense_layers[0].compute_dtype == "float16"
    assert head.dense_layers[-1].compute_dtype == "float32"
    assert keras.backend.standardize_dtype(y.dtype) == "float32"
    assert keras.backend.standardize_dtype(logits.dtype) == "float32"


def test_init_torch_matches_pytorch_linear_default_and_haiku_stays():
    """`init="torch"`: PyTorch's nn.Linear default (kaiming_uniform_ with a = sqrt(5), biases
    uniform on +-1/sqrt(fan_in)), i.e. U(+-1/sqrt(fan_in)) for both; "haiku": truncated normal
    of variance 1/fan_in (cut at 2 standard deviations), zero biases."""
    keras.utils.set_random_seed(3)
    fan_in, hidden = 400, 300
    torch_like = MLP([hidden, 200], init="torch")
    torch_like.build((None, fan_in))
    haiku = MLP([hidden, 200])
    haiku.build((None, fan_in))
    for layer, d_in in zip(torch_like.dense_layers, (fan_in, hidden)):
        kernel, bias = (np.asarray(v, np.float64) for v in (layer.kernel, layer.bias))
        bound = 1.0 / np.sqrt(d_in)
        # A uniform on [-b, b]: variance b^2 / 3, filling the interval to its ends.
        assert np.abs(kernel).max() <= bound * (1 + 1e-6)
        assert np.abs(kernel).max() > 0.99 * bound
        assert np.var(kernel) == pytest.approx(bound**2 / 3, rel=0.03)
        assert np.abs(bias).max() <= bound * (1 + 1e-6)
        assert np.abs(bias).max() > 0.9 * bound and abs(bias.mean()) < 0.2 * bound
    for layer, d_in in zip(haiku.dense_layers, (fan_in, hidden)):
        kernel = np.asarray(layer.kernel, np.float64)
        assert np.var(kernel) == pytest.approx(1.0 / d_in, rel=0.05)
        assert np.abs(kernel).max() <= 2.0 / np.sqrt(d_in) * 1.2  # truncated
        assert not np.any(np.asarray(layer.bias))
    clone = MLP.from_config(torch_like.get_config())
    assert clone.init == "torch"


def test_errors():
    with pytest.raises(ValueError, match="`init` must be 'haiku'"):
        MLP([4], init="pytorch")
    with pytest.raises(ValueError, match="`units`"):
        MLP([])
    with pytest.raises(ValueError, match="`units`"):
        MLP([4, 0])
    with pytest.raises(ValueError, match="one entry per layer"):
        MLP([4, 2], use_bias=[True])
    with pytest.raises(TypeError, match="`batch_norm`"):
        MLP([4], batch_norm="yes")
    with pytest.raises(ValueError, match="unknown activation 'nope'"):
        MLP([4], activation="nope")
    with pytest.raises(ValueError, match="`probe` must be 'linear' or 'mlp'"):
        cissl_student(probe="deep")
    with pytest.raises(ValueError, match="`num_classes`"):
        linear_probe(0)
    with pytest.raises(ValueError, match="`num_clusters`"):
        dissl_teacher(num_clusters=-1)
    with pytest.raises(ValueError, match=r"known D"):
        MLP([4]).build((None,))
