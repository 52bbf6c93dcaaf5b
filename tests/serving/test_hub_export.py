"""export_hub: TF-Hub reusable SavedModel, loaded back with tf.saved_model.load."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from sslhsic_tf import serving
from sslhsic_tf.serving._atomic import atomic_directory
from tests.serving.encoders import copy_of, images, tiny_encoder

SIZE = (8, 12)  # non-square, so height and width cannot be swapped unnoticed


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    encoder = tiny_encoder(seed=1)
    x = images(3, *SIZE, seed=2)
    expected_inference = encoder(x, training=False).numpy()
    expected_training = copy_of(encoder)(x, training=True).numpy()
    path = tmp_path_factory.mktemp("hub") / "encoder"
    meta = serving.export_hub(encoder, path, image_size=SIZE, metadata={"method": "ssl_hsic"})
    return {
        "encoder": encoder, "path": path, "x": x, "meta": meta,
        "inference": expected_inference, "training": expected_training,
    }


def test_metadata_file_states_the_contract(exported):
    doc = serving.read_export_metadata(exported["path"])
    assert doc == exported["meta"]
    assert doc["kind"] == "tf_hub_reusable_saved_model"
    assert doc["input"]["shape"] == [None, 8, 12, 3]
    assert doc["input"]["dtype"] == "float32" and doc["input"]["value_range"] == [0.0, 1.0]
    assert doc["input"]["value_range_enforced"] is True
    assert doc["input_shape"] == [8, 12, 3]
    assert doc["feature_dim"] == 8 and doc["output"]["shape"] == [None, 8]
    assert doc["extra"] == {"method": "ssl_hsic"}
    files = set(os.listdir(exported["path"]))
    assert files >= {"saved_model.pb", "variables", serving.METADATA_FILENAME}
    # Nothing left beside the export by the atomic write.
    assert os.listdir(exported["path"].parent) == ["encoder"]


def test_reload_matches_encoder_in_both_modes(exported):
    loaded = tf.saved_model.load(str(exported["path"]))
    x, encoder = exported["x"], exported["encoder"]
    assert len(loaded.variables) == len(encoder.variables) == 10
    assert len(loaded.trainable_variables) == len(encoder.trainable_variables) == 6
    assert list(loaded.regularization_losses) == []

    out = loaded(x)
    assert out.dtype == tf.float32 and out.shape == (3, 8)
    np.testing.assert_allclose(out.numpy(), exported["inference"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        loaded(x, training=False).numpy(), exported["inference"], rtol=1e-5, atol=1e-6
    )
    signature = loaded.signatures["serving_default"]
    assert list(signature.structured_outputs) == ["features"]
    np.testing.assert_allclose(
        signature(images=tf.constant(x))["features"].numpy(), exported["inference"],
        rtol=1e-5, atol=1e-6,
    )
    # Inference mode leaves BatchNorm statistics alone; training mode uses batch statistics and
    # updates the moving averages (what fine-tuning needs).
    before = [v.numpy().copy() for v in loaded.variables]
    loaded(x, training=False)
    assert all(np.array_equal(b, v.numpy()) for b, v in zip(before, loaded.variables))
    np.testing.assert_allclose(
        loaded(x, training=True).numpy(), exported["training"], rtol=1e-4, atol=1e-5
    )
    assert np.abs(exported["training"] - exported["inference"]).max() > 1e-2
    changed = [not np.array_equal(b, v.numpy()) for b, v in zip(before, loaded.variables)]
    trainable_ids = {id(v) for v in loaded.trainable_variables}
    assert sum(changed) == 4  # moving mean and variance of the two BatchNorms
    assert not any(c for c, v in zip(changed, loaded.variables) if id(v) in trainable_ids)


def test_gradients_reach_every_trainable_variable(exported):
    loaded = tf.saved_model.load(str(exported["path"]))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(loaded(exported["x"], training=True) - 1.0))
    grads = tape.gradient(loss, loaded.trainable_variables)
    assert all(g is not None and float(tf.norm(g)) > 1e-6 for g in grads)


def _error(call):
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        call()
    return str(info.value)


def test_call_rejects_wrong_rank_size_channels_dtype_and_range(exported):
    loaded = tf.saved_model.load(str(exported["path"]))
    x = exported["x"]
    contract = "images: expected float32 RGB [batch, 8, 12, 3] in [0, 1]"
    cases = {
        "rank 3": (x[0], "got shape] [8 12 3]"),
        "rank 5": (x[None], "got shape] [1 3 8 12 3]"),
        "one channel": (x[..., :1], "got shape] [3 8 12 1]"),
        "swapped size": (np.swapaxes(x, 1, 2), "got shape] [3 12 8 3]"),
        "other size": (images(2, 8, 8), "(resize first, e.g. tf.image.resize(images, (8, 12)); "
                       "the encoder was trained at 8x12); got shape] [2 8 8 3]"),
        "0-255 values": (x * 255.0, "outside [0, 1]"),
        "negative values": (x - 0.5, "outside [0, 1]"),
        "NaN": (np.where(x > 0.5, np.nan, x).astype("float32"), "outside [0, 1]"),
        "uint8": ((x * 255).astype("uint8"), "got dtype uint8 (convert with"),
        "float64": (x.astype("float64"), "got dtype float64"),
    }
    # Repeated: the checks must win every time against the encoder's own shape errors (they
    # once raced with it, failing about one call in a hundred).
    for _ in range(5):
        for case, (bad, expected) in cases.items():
            for training in (False, True):
                message = _error(lambda: loaded(bad, training=training))
                assert contract in message and expected in message, (case, message)
    signature = loaded.signatures["serving_default"]
    for bad, expected in (cases["rank 3"], cases["one channel"], cases["0-255 values"]):
        message = _error(lambda: signature(images=tf.constant(bad)))
        assert contract in message and expected in message
    with pytest.raises((tf.errors.InvalidArgumentError, TypeError, ValueError), match="float"):
        signature(images=tf.constant(x.astype("float64")))


def test_check_range_false_passes_values_through_unchanged(tmp_path):
    encoder = tiny_encoder(seed=3)
    x = images(2, 8, 8, seed=4) * 3.0 - 1.0
    expected = encoder(x, training=False).numpy()
    meta = serving.export_hub(encoder, tmp_path / "e", image_size=8, check_range=False)
    assert meta["input"]["value_range_enforced"] is False
    loaded = tf.saved_model.load(str(tmp_path / "e"))
    np.testing.assert_allclose(loaded(x).numpy(), expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(tf.errors.InvalidArgumentError, match="got shape"):
        loaded(x[..., :2])


def test_regularization_losses_follow_the_weights(tmp_path):
    encoder = tiny_encoder(seed=5, kernel_regularizer=keras.regularizers.L2(0.01))
    serving.export_hub(encoder, tmp_path / "e", image_size=8)
    loaded = tf.saved_model.load(str(tmp_path / "e"))
    assert len(loaded.regularization_losses) == 1
    kernel = encoder.get_layer("conv1").kernel.numpy()
    expected = 0.01 * np.sum(kernel.astype("float64") ** 2)
    np.testing.assert_allclose(float(loaded.regularization_losses[0]()), expected, rtol=1e-5)
    loaded.trainable_variables[0].assign(2.0 * loaded.trainable_variables[0])  # conv1 kernel
    np.testing.assert_allclose(float(loaded.regularization_losses[0]()), 4 * expected, rtol=1e-5)


def test_export_argument_errors(tmp_path):
    encoder = tiny_encoder(seed=6)
    for bad in (0, (8,), (8, 0), "8", 2.5, True, (8, 8.0)):
        with pytest.raises((TypeError, ValueError), match="image_size"):
            serving.export_hub(encoder, tmp_path / "a", image_size=bad)
    with pytest.raises(TypeError, match="encoder must be a keras.Model"):
        serving.export_hub(lambda x: x, tmp_path / "a", image_size=8)
    with pytest.raises(TypeError, match="check_range must be a bool"):
        serving.export_hub(encoder, tmp_path / "a", image_size=8, check_range="yes")
    with pytest.raises(TypeError, match="metadata must hold JSON values"):
        serving.export_hub(encoder, tmp_path / "a", image_size=8, metadata={"top1": float("nan")})
    fmap = keras.Model(encoder.input, encoder.get_layer("bn2").output)
    with pytest.raises(ValueError, match=r"features \[B, F\].*shape \(1, 4, 4, 8\)"):
        serving.export_hub(fmap, tmp_path / "a", image_size=8)
    assert not (tmp_path / "a").exists()

    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        serving.export_hub(encoder, tmp_path / "notes", image_size=8)
    with pytest.raises(FileExistsError, match="not an export folder"):
        serving.export_hub(encoder, tmp_path / "notes", image_size=8, overwrite=True)
    assert (tmp_path / "notes" / "keep.txt").read_text() == "mine"


def test_overwrite_replaces_an_export_and_a_failure_leaves_nothing(tmp_path):
    target = tmp_path / "e"
    serving.export_hub(tiny_encoder(seed=7, width=2), target, image_size=8)
    serving.export_hub(tiny_encoder(seed=7, width=3), target, image_size=8, overwrite=True)
    assert serving.read_export_metadata(target)["feature_dim"] == 6
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_directory(tmp_path / "f", overwrite=False) as tmp:
            (tmp / "saved_model.pb").write_bytes(b"partial")
            raise RuntimeError("boom")
    assert sorted(os.listdir(tmp_path)) == ["e"]
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_directory(target, overwrite=True):
            raise RuntimeError("boom")
    assert sorted(os.listdir(tmp_path)) == ["e"]
    assert json.loads((target / serving.METADATA_FILENAME).read_text())["feature_dim"] == 6
