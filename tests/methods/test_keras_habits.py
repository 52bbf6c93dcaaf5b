"""The Keras calls people use on a training model: fit on arrays, a generator, a tf.data.Dataset,
train_on_batch, predict; evaluate and input-layout mistakes give one-line errors with the fix."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from sslhsic_tf import methods
from tests.methods.common import TINY, random_batch, tiny_encoder

BATCH = 8


def _model():
    model = methods.create("simclr", tiny_encoder(), total_steps=10, batch_size=BATCH,
                           num_classes=3, **TINY["simclr"])
    model.compile()
    return model


def _arrays(n=16):
    return random_batch(batch_size=n, size=8, seed=1)


def _steps(model):
    return int(keras.ops.convert_to_numpy(model.optimizer.iterations))


def test_fit_on_a_dict_of_arrays():
    model = _model()
    history = model.fit(_arrays(), batch_size=BATCH, epochs=1, verbose=0)
    assert _steps(model) == 2 and np.isfinite(history.history["loss"]).all()


def test_fit_on_a_generator_and_on_a_dataset_equals_train_on_batch():
    def batches():  # Keras takes generators of tuples: (batch,)
        for seed in range(3):
            yield (random_batch(batch_size=BATCH, size=8, seed=seed),)

    keras.utils.set_random_seed(0)
    reference = _model()
    for seed in range(3):
        reference.train_on_batch(random_batch(batch_size=BATCH, size=8, seed=seed))
    for fit_data in (batches(), tf.data.Dataset.from_generator(
            lambda: (b for (b,) in batches()),
            output_signature=tf.data.Dataset.from_tensors(random_batch(BATCH, 8)).element_spec)):
        keras.utils.set_random_seed(0)
        model = _model()
        model.fit(fit_data, epochs=1, verbose=0)
        # The same three updates (Keras' TF trainer counts one more iteration when a source of
        # unknown length runs out; no update is applied for it).
        for a, b in zip(model.get_weights(), reference.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_train_on_batch_takes_the_fit_batch():
    model = _model()
    logs = model.train_on_batch(random_batch(batch_size=BATCH, size=8), return_dict=True)
    assert _steps(model) == 1 and np.isfinite(logs["loss"]) and "repr_std" in logs


def test_predict_returns_encoder_features_and_evaluate_says_what_to_call():
    model = _model()
    images = random_batch(batch_size=BATCH, size=8)["views"][0]
    features = model.predict(images, batch_size=4, verbose=0)
    np.testing.assert_allclose(features, model.encoder(images, training=False), atol=1e-5)
    assert features.shape == (BATCH, model.feature_dim)
    with pytest.raises(ValueError, match=r"no evaluate\(\).*sslhsic_tf.evaluation.*predict"):
        model.evaluate(random_batch(batch_size=BATCH, size=8), verbose=0)
    with pytest.raises(ValueError, match=r"got a batch dict: pass batch\['views'\]\[0\]"):
        model.predict(random_batch(batch_size=BATCH, size=8), verbose=0)


def test_images_as_0_255_floats_stop_the_step_with_the_fix():
    model = _model()
    before = [np.array(v.numpy()) for v in model.trainable_variables]
    batch = random_batch(batch_size=BATCH, size=8)
    batch["views"] = tuple(v * 255.0 for v in batch["views"])
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"\[0, 1\].*divide by 255"):
        model.train_on_batch(batch)
    after = [np.array(v.numpy()) for v in model.trainable_variables]
    assert all(np.array_equal(a, b) for a, b in zip(before, after))  # nothing applied


@pytest.mark.parametrize("layout, shape, hint", [
    ("channels-first", (BATCH, 3, 8, 8), r"channels-first\? transpose"),
    ("grayscale [B, H, W, 1]", (BATCH, 8, 8, 1), r"grayscale\? repeat the channel"),
    ("grayscale [B, H, W]", (BATCH, 8, 8), r"grayscale\? repeat the channel"),
])
def test_wrong_image_layouts_are_named_with_the_fix(layout, shape, hint):
    model = _model()
    view = np.random.default_rng(0).random(shape, dtype=np.float32)
    with pytest.raises(ValueError, match=r"views\[0\] must be images \[B, H, W, 3\].*" + hint):
        model.train_on_batch({"views": (view, view)})
