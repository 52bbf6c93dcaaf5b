"""Fine-tuning beats the best frozen linear probe on a task the frozen features hide, and
changes the (copied) encoder's weights while the caller's encoder stays as it was."""

import json

import keras
import numpy as np
import pytest

from sslhsic_tf.evaluation import extract_features, finetune_evaluate, linear_lbfgs_evaluate


def test_finetuning_improves_over_frozen_probe_and_trains_a_copy(encoder_factory, colour_data):
    encoder = encoder_factory(feature_dim=1, seed=1)
    original = [w.copy() for w in encoder.get_weights()]
    train, test = colour_data(160, seed=0), colour_data(100, seed=1)

    train_f, train_l = extract_features(encoder, train)
    test_f, test_l = extract_features(encoder, test)
    frozen = linear_lbfgs_evaluate(train_f, train_l, test_f, test_l, l2=1e-4)

    record, model = finetune_evaluate(
        encoder, train, test, epochs=25, batch_size=32,
        optimizer=keras.optimizers.Adam(0.03), train_transform=None, test_transform=None,
        return_model=True,
    )
    json.dumps(record)
    assert record["protocol"] == "finetune" and record["optimizer"]["class_name"] == "Adam"
    assert record["top1"] >= 0.9, record
    assert record["top1"] > frozen["top1"] + 0.15, (record["top1"], frozen["top1"])

    tuned = model.encoder
    assert tuned is not encoder
    changed = [not np.allclose(a, b) for a, b in zip(original, tuned.get_weights())]
    assert all(changed), changed  # conv, BN gamma/beta, BN moving statistics, dense: all moved
    for a, b in zip(original, encoder.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_in_place_fine_tuning_and_default_optimizer(encoder_factory, colour_data):
    encoder = encoder_factory(feature_dim=4)
    before = [w.copy() for w in encoder.get_weights()]
    record = finetune_evaluate(
        encoder, colour_data(32), colour_data(16, seed=1), epochs=1, batch_size=16,
        train_transform=None, test_transform=None, copy_encoder=False,
    )
    assert any(not np.allclose(a, b) for a, b in zip(before, encoder.get_weights()))
    config = record["optimizer"]["config"]
    assert record["optimizer"]["class_name"] == "SGD" and config["nesterov"] and config["momentum"] == 0.9
    assert config["learning_rate"]["config"]["initial_learning_rate"] == pytest.approx(0.05 * 16 / 256)


def test_used_optimizer_is_refused(encoder_factory, colour_data):
    optimizer = keras.optimizers.SGD(0.1)
    optimizer.build([keras.Variable(1.0)])
    with pytest.raises(ValueError, match="optimizer.*already been used"):
        finetune_evaluate(encoder_factory(), colour_data(8), colour_data(4, seed=1), optimizer=optimizer, epochs=1)
