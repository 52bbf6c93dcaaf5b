"""Encoders named by a string: run folders, `.keras` files, zoo entries, exported SavedModels."""

import json
import os
import re

_RANDOM = re.compile(r"random:resnet(\d+)x([0-9.]+)$")


def _run_config(path):
    cfg = os.path.join(path, "config.json")
    if os.path.isfile(cfg):
        with open(cfg) as f:
            return json.load(f)["config"]
    return None


def load_encoder(spec, *, image_size=32, seed=0):
    """`(encoder keras.Model, run config or None, trainable)` from an encoder spec.

    `spec`: a pretraining run folder (its `encoder.keras`), a `.keras` file (a training model
    gives its encoder), `zoo:NAME` (the entry's Keras artefact, `zoo.load_model`: trainable, so
    fine-tuning and semi-supervised protocols train it), or a SavedModel folder written by
    `sslhsic_tf.export` (frozen: `trainable` is False), or `random:resnetDEPTHxWIDTH` (a
    randomly initialised encoder seeded by `seed`, the CIFAR stem for `image_size` <= 64: the
    baseline of any protocol).
    """
    from sslhsic_tf import serving, zoo

    match = _RANDOM.match(spec)
    if match:
        import keras

        from sslhsic_tf import models

        keras.utils.set_random_seed(seed)
        return models.resnet(int(match.group(1)), float(match.group(2)),
                             cifar_stem=image_size <= 64, padding="symmetric"), None, True
    if spec.startswith("random:"):
        raise ValueError(f"--encoder={spec}: expected random:resnetDEPTHxWIDTH, e.g. "
                         "random:resnet18x0.25")
    if spec.startswith("zoo:"):
        return zoo.load_model(spec[4:]), None, True
    if os.path.isdir(spec) and os.path.isfile(os.path.join(spec, "encoder.keras")):
        return serving.load_keras(os.path.join(spec, "encoder.keras"), compile=False), _run_config(spec), True
    if os.path.isdir(spec) and os.path.isfile(os.path.join(spec, "saved_model.pb")):
        import tensorflow as tf

        meta = serving.read_export_metadata(spec)
        return _saved_model_encoder(tf.saved_model.load(spec), meta["feature_dim"]), None, False
    if spec.endswith(".keras") and os.path.isfile(spec):
        model = serving.load_keras(spec, compile=False)
        if hasattr(model, "export_encoder"):
            model = model.export_encoder()
        return model, None, True
    raise ValueError(
        f"--encoder={spec!r} is not a pretraining run folder (with encoder.keras), a .keras file, "
        "zoo:NAME, random:resnetDEPTHxWIDTH, or a SavedModel folder"
    )


def _saved_model_encoder(obj, feature_dim):
    """A frozen keras.Model calling a loaded SavedModel encoder in inference mode."""
    import keras

    class SavedModelEncoder(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(trainable=False, **kwargs)
            self.obj = obj

        def call(self, images):
            return obj(images, training=False)

        def compute_output_shape(self, input_shape):
            return (input_shape[0], feature_dim)

    images = keras.Input((None, None, 3))
    return keras.Model(images, SavedModelEncoder()(images), name="saved_model_encoder")
