"""SGD linear probe: the encoder (weights AND BatchNorm statistics) is untouched; the head learns."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from sslhsic_tf.evaluation import EncoderClassifier, linear_sgd_evaluate
from sslhsic_tf.utils import random as srandom


def random_flip(images, seed):
    """Seeded horizontal flip of half the batch (a training transform that takes `seed`)."""
    flip = srandom.uniform((images.shape[0], 1, 1, 1), seed=seed) < 0.5
    return keras.ops.where(flip, images[:, :, ::-1], images)


def _state(encoder):
    return {v.path: keras.ops.convert_to_numpy(v).copy() for v in encoder.weights}


def test_probe_leaves_encoder_and_batchnorm_statistics_unchanged(encoder_factory, colour_data):
    encoder = encoder_factory(feature_dim=8)
    encoder.get_layer("proj").trainable = False  # a flag the probe must restore as it was
    before = _state(encoder)
    assert any("moving_mean" in p for p in before)
    train, test = colour_data(96, seed=0, hidden=False), colour_data(48, seed=1, hidden=False)
    record = linear_sgd_evaluate(
        encoder, train, test, epochs=8, batch_size=16, base_learning_rate=4.0,
        train_transform=random_flip, test_transform=None, seed=3,
    )
    after = _state(encoder)
    assert before.keys() == after.keys()
    for path in before:
        np.testing.assert_array_equal(before[path], after[path], err_msg=path)
    assert encoder.trainable and encoder.get_layer("bn").trainable
    assert not encoder.get_layer("proj").trainable
    json.dumps(record)
    assert record["protocol"] == "linear_sgd" and record["reported"] == "ema" and record["ema_decay"] == 0.999
    assert record["learning_rate"] == pytest.approx(4.0 * 16 / 256)
    assert record["train_transform"] == "random_flip" and record["test_transform"] == "identity"
    assert record["final_weights"]["top1"] > 0.8  # brightness is linearly readable
    assert record["train_loss"][-1] < record["train_loss"][0]
    assert record["top5"] is None  # 2 classes


def test_probe_is_reproducible_and_accepts_datasets(encoder_factory, colour_data):
    encoder = encoder_factory()
    (xs, ys), test = colour_data(40, seed=4), colour_data(20, seed=5)
    kwargs = dict(epochs=2, batch_size=8, ema_decay=None, train_transform=random_flip, test_transform=None, seed=7)
    a = linear_sgd_evaluate(encoder, (xs, ys), test, **kwargs)
    b = linear_sgd_evaluate(encoder, (xs, ys), test, **kwargs)
    assert a == b
    assert a["reported"] == "final_weights" and a["top1"] == a["final_weights"]["top1"]
    dataset = tf.data.Dataset.from_tensor_slices((xs, ys)).batch(8)
    c = linear_sgd_evaluate(encoder, dataset, test, **{**kwargs, "batch_size": 999})
    assert c["batch_size"] == 8 and c["num_train"] == 40


def test_encoder_classifier_round_trip(tmp_path, encoder_factory):
    model = EncoderClassifier(encoder_factory(), num_classes=3, freeze_encoder=True, head_initializer="glorot_uniform")
    images = np.random.default_rng(0).uniform(size=(4, 8, 8, 3)).astype(np.float32)
    logits = keras.ops.convert_to_numpy(model(images))
    path = str(tmp_path / "probe.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, EncoderClassifier)
    assert restored.get_config()["num_classes"] == 3 and restored.freeze_encoder
    np.testing.assert_allclose(keras.ops.convert_to_numpy(restored(images)), logits, rtol=1e-5, atol=1e-6)


BAD_KWARGS = [
    (dict(epochs=0), ValueError, "epochs"),
    (dict(ema_decay=1.0), ValueError, "ema_decay"),
    (dict(schedule="step"), ValueError, "schedule"),
    (dict(num_classes=1), ValueError, "train_labels.*num_classes"),
    (dict(train_transform=3), TypeError, "transform"),
]


def test_bad_arguments(encoder_factory, colour_data):
    for kwargs, error, match in BAD_KWARGS:
        with pytest.raises(error, match=match):
            linear_sgd_evaluate(encoder_factory(), colour_data(8), colour_data(4, seed=1), **kwargs)
