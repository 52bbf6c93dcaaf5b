"""Feature extraction: inference-mode BatchNorm, batching, datasets, normalisation, cache, errors."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from sslhsic_tf.evaluation import cached_features, extract_features, l2_normalize, load_features


def _bn_encoder():
    inputs = keras.Input((4, 4, 3))
    x = keras.layers.BatchNormalization(name="bn", epsilon=1e-3)(inputs)
    outputs = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, outputs)
    bn = model.get_layer("bn")
    bn.gamma.assign([1.0, 2.0, 0.5])
    bn.beta.assign([0.0, 1.0, -1.0])
    bn.moving_mean.assign([0.2, 0.4, 0.6])
    bn.moving_variance.assign([0.04, 0.25, 1.0])
    return model


def test_batchnorm_runs_on_moving_statistics():
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(10, 4, 4, 3)).astype(np.float32)
    labels = np.arange(10) % 3
    features, out_labels = extract_features(_bn_encoder(), (images, labels), batch_size=4)
    mean = images.mean(axis=(1, 2))
    expected = (mean - [0.2, 0.4, 0.6]) / np.sqrt(np.array([0.04, 0.25, 1.0]) + 1e-3) * [1.0, 2.0, 0.5] + [0.0, 1.0, -1.0]
    np.testing.assert_allclose(features, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(out_labels, labels)


def test_arrays_datasets_batch_sizes_and_transform_agree(encoder_factory):
    encoder = encoder_factory()
    rng = np.random.default_rng(1)
    images = rng.uniform(size=(13, 8, 8, 3)).astype(np.float32)
    labels = rng.integers(0, 4, 13)
    before = [w.copy() for w in encoder.get_weights()]
    a, la = extract_features(encoder, (images, labels), batch_size=13)
    b, lb = extract_features(encoder, tf.data.Dataset.from_tensor_slices((images, labels)).batch(5))
    c, lc = extract_features(encoder, tf.data.Dataset.from_tensor_slices({"image": images, "label": labels}), batch_size=4)
    for f, l in ((b, lb), (c, lc)):
        np.testing.assert_allclose(f, a, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(l, la)
    for w0, w1 in zip(before, encoder.get_weights()):
        np.testing.assert_array_equal(w0, w1)
    flipped, _ = extract_features(encoder, (images, labels), transform=lambda x: x[:, :, ::-1], normalize=True)
    direct, _ = extract_features(encoder, (images[:, :, ::-1], labels))
    np.testing.assert_allclose(flipped, direct / np.linalg.norm(direct, axis=1, keepdims=True), rtol=1e-5, atol=1e-6)


def test_l2_normalize():
    x = np.array([[3.0, 4.0], [0.0, 0.0], [1e-3, 0.0]])
    np.testing.assert_allclose(l2_normalize(x), [[0.6, 0.8], [0.0, 0.0], [1.0, 0.0]], rtol=1e-6)


def test_cache_reused_only_for_the_same_weights(tmp_path, encoder_factory):
    encoder = encoder_factory()
    rng = np.random.default_rng(2)
    data = (rng.uniform(size=(6, 8, 8, 3)).astype(np.float32), np.array([0, 1, 2, 0, 1, 2]))
    path = str(tmp_path / "cache" / "train.npz")
    first, labels, hit = cached_features(path, encoder, data)
    assert not hit
    again, _, hit = cached_features(path, encoder, data)
    assert hit
    np.testing.assert_array_equal(first, again)
    stored, stored_labels, meta = load_features(path)
    np.testing.assert_array_equal(stored, first)
    np.testing.assert_array_equal(stored_labels, labels)
    assert meta["num_examples"] == 6 and meta["normalize"] is False
    _, _, hit = cached_features(path, encoder, data, normalize=True)
    assert not hit
    kernel = encoder.get_layer("proj").kernel
    kernel.assign(kernel * 2.0)
    changed, _, hit = cached_features(path, encoder, data, normalize=False)
    assert not hit
    np.testing.assert_allclose(changed - encoder.get_layer("proj").bias.numpy(), 2 * (first - encoder.get_layer("proj").bias.numpy()), rtol=1e-5, atol=1e-6)


BAD_DATA = [
    ((np.zeros((3, 8, 8, 3), np.uint8), np.zeros(3, int)), TypeError, "float32 in \\[0, 1\\].*uint8"),
    ((np.full((3, 8, 8, 3), 255.0, np.float32), np.zeros(3, int)), ValueError, "lie in \\[0, 1\\]"),
    ((np.zeros((3, 8, 8, 3), np.float32), np.zeros(4, int)), ValueError, "3 images|4 entries"),
    ((np.zeros((0, 8, 8, 3), np.float32), np.zeros(0, int)), ValueError, "empty"),
    ((np.zeros((3, 8, 8), np.float32), np.zeros(3, int)), ValueError, r"\[N, H, W, C\]"),
    (np.zeros((3, 8, 8, 3), np.float32), TypeError, "tuple \\(images, labels\\)"),
    (tf.data.Dataset.from_tensor_slices((np.zeros((3, 8, 8, 3), np.float32), np.zeros(3))).repeat(),
     ValueError, "infinite"),
]


def test_bad_data(encoder_factory):
    for data, error, match in BAD_DATA:
        with pytest.raises(error, match=match):
            extract_features(encoder_factory(), data, name="train_data")


def test_nan_features_are_reported():
    inputs = keras.Input((4, 4, 3))
    outputs = keras.layers.Lambda(lambda x: keras.ops.log(keras.ops.mean(x, axis=(1, 2)) - 1.0))(inputs)
    with pytest.raises(ValueError, match="encoder.*NaN"):
        extract_features(keras.Model(inputs, outputs), (np.full((2, 4, 4, 3), 0.5, np.float32), [0, 1]))
