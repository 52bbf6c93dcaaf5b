"""An encoder with a linear head, and the train/evaluate loops the SGD probe and fine-tuning share.

Training runs `train_on_batch` (compiled, any backend) over NumPy batches; a training transform
is applied to each batch first, with a per-step stateless seed `stateless_seed(seed, step)`
when it takes a `seed` argument, so a run is reproducible.
"""

import contextlib
import inspect
import json
import math
from types import SimpleNamespace

import keras
import numpy as np
from keras import ops

from sslhsic_tf.evaluation._checks import (
    check_positive_float,
    check_positive_int,
    resolve_num_classes,
)
from sslhsic_tf.evaluation.features import pad_batch
from sslhsic_tf.evaluation.inputs import batch_size_of, collect_labels, iterate_batches, num_batches
from sslhsic_tf.evaluation.transforms import resolve_for_data
from sslhsic_tf.evaluation.metrics import topk_accuracies
from sslhsic_tf.utils import backend
from sslhsic_tf.utils.random import stateless_seed

SCHEDULES = ("cosine", "constant")


@keras.saving.register_keras_serializable(package="sslhsic_tf")
class EncoderClassifier(keras.Model):
    """Logits `[B, C]` of a linear head on `encoder(images) [B, F]`.

    With `freeze_encoder=True` the encoder always runs in inference mode (BatchNorm moving
    statistics, `training=False`) behind a stop-gradient: the linear-probe model. The caller
    also sets `encoder.trainable = False` while training (see `frozen`) so the optimizer holds
    only the head. With `freeze_encoder=False` the encoder follows `training`: fine-tuning.

    Args:
      encoder: `keras.Model` mapping float32 `[B, H, W, 3]` in [0, 1] to `[B, F]`.
      num_classes: C.
      freeze_encoder: see above.
      head_initializer: kernel initializer of the head (zeros, as in the linear protocols).
    """

    def __init__(self, encoder, num_classes, freeze_encoder=True, head_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        if not isinstance(encoder, keras.layers.Layer):
            raise TypeError(f"`encoder` must be a keras.Model or Layer; got {type(encoder).__name__}")
        self.encoder = encoder
        self.num_classes = check_positive_int(num_classes, "num_classes")
        self.freeze_encoder = bool(freeze_encoder)
        self.head_initializer = keras.initializers.get(head_initializer)
        self.head = keras.layers.Dense(
            self.num_classes, kernel_initializer=self.head_initializer, dtype="float32", name="head"
        )

    def call(self, images, training=False):
        if self.freeze_encoder:
            features = ops.stop_gradient(self.encoder(images, training=False))
        else:
            features = self.encoder(images, training=training)
        return self.head(ops.cast(features, "float32"))

    def get_config(self):
        config = super().get_config()
        config.update({
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "num_classes": self.num_classes,
            "freeze_encoder": self.freeze_encoder,
            "head_initializer": keras.initializers.serialize(self.head_initializer),
        })
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        config["head_initializer"] = keras.initializers.deserialize(config["head_initializer"])
        return cls(**config)


@contextlib.contextmanager
def frozen(layer):
    """Sets `layer.trainable = False` (recursively) for the block; restores every sublayer's flag."""
    states = [(sub, sub.trainable) for sub in backend.flatten_layers(layer)]
    layer.trainable = False
    try:
        yield layer
    finally:
        for sub, state in states:  # pre-order: parents first, so children keep their own flags
            sub.trainable = state


def copy_model(model, sample_images):
    """An independent copy of `model` (rebuilt from its config, same weights)."""
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model))
    if not clone.built or len(clone.weights) != len(model.weights):
        clone(ops.convert_to_tensor(sample_images[:1]), training=False)
    clone.set_weights(model.get_weights())
    return clone


def apply_transform(transform, images, seed, step):
    """`transform(images[, seed=stateless_seed(seed, step)])` as float32 NumPy."""
    if transform is None:
        return images
    try:
        takes_seed = "seed" in inspect.signature(transform).parameters
    except (TypeError, ValueError):
        takes_seed = False
    if takes_seed:
        out = transform(images, seed=stateless_seed(seed, step))
    else:
        out = transform(images)
    return np.asarray(ops.convert_to_numpy(out), dtype=np.float32)


def learning_rate_schedule(learning_rate, schedule, total_steps):
    """A float (constant) or `keras.optimizers.schedules.CosineDecay` to 0 over `total_steps`."""
    learning_rate = check_positive_float(learning_rate, "learning_rate")
    if schedule == "constant":
        return learning_rate
    if schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=max(1, int(total_steps)))
    raise ValueError(f"`schedule` must be one of {SCHEDULES}; got {schedule!r}")


def to_jsonable(value):
    """`value` with NumPy scalars/arrays turned into Python numbers/lists (for result records)."""
    return json.loads(json.dumps(value, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v)))


def train_classifier(model, data, epochs, batch_size, transform=None, seed=0, name="train_data"):
    """Trains a compiled `model` for `epochs` passes over `data`; returns the mean loss per epoch.

    Arrays are reshuffled every epoch from `(seed, epoch)`; a dataset is used in its own order.
    """
    epochs = check_positive_int(epochs, "epochs")
    steps_per_epoch = num_batches(data, name, batch_size)
    losses = []
    for epoch in range(epochs):
        total, count = 0.0, 0
        for step, (images, labels) in enumerate(
            iterate_batches(data, name, batch_size, shuffle_seed=(int(seed), epoch))
        ):
            images = apply_transform(transform, images, seed, epoch * steps_per_epoch + step)
            logs = model.train_on_batch(images, labels, return_dict=True)
            loss = float(logs["loss"])
            if not math.isfinite(loss):
                raise FloatingPointError(f"training loss became {loss} at epoch {epoch}, step {step}")
            total, count = total + loss * labels.shape[0], count + labels.shape[0]
        losses.append(total / max(count, 1))
    return losses


def predict_logits(model, data, batch_size=256, transform=None, name="test_data"):
    """`(logits float32 [N, C], labels int64 [N])` of `model` in inference mode over `data`."""
    logits, labels, full = [], [], None
    for images, batch_labels in iterate_batches(data, name, batch_size):
        if transform is not None:
            images = np.asarray(ops.convert_to_numpy(transform(images)), dtype=np.float32)
        full = full or images.shape[0]
        out = model.predict_on_batch(pad_batch(images, full))
        logits.append(np.asarray(out, dtype=np.float32)[: images.shape[0]])
        labels.append(batch_labels)
    return np.concatenate(logits), np.concatenate(labels)


def evaluate_classifier(model, data, batch_size=256, transform=None, name="test_data"):
    """`{"top1", "top5"}` of `model` on `data`."""
    logits, labels = predict_logits(model, data, batch_size, transform, name)
    if labels.max() >= logits.shape[1]:
        raise ValueError(f"`{name}` has label {int(labels.max())} but the classifier has {logits.shape[1]} classes")
    return topk_accuracies(logits, labels)


def supervised_setup(train_data, test_data, *, num_classes, batch_size, epochs, train_transform,
                     test_transform, eval_config, learning_rate, base_learning_rate):
    """What the SGD probe and fine-tuning share: transforms, labels, C, batch, lr, steps.

    The learning rate is `learning_rate`, or `base_learning_rate * batch / 256`.
    """
    train_transform, test_transform = resolve_for_data(
        train_transform, test_transform, eval_config, train_data, batch_size
    )
    train_labels = collect_labels(train_data, "train_data")
    test_labels = collect_labels(test_data, "test_data")
    num_classes = resolve_num_classes(num_classes, train_labels=train_labels, test_labels=test_labels)
    batch = batch_size_of(train_data, "train_data", batch_size)
    if learning_rate is None:
        learning_rate = check_positive_float(base_learning_rate, "base_learning_rate") * batch / 256
    return SimpleNamespace(
        train_transform=train_transform, test_transform=test_transform,
        train_labels=train_labels, test_labels=test_labels, num_classes=num_classes, batch=batch,
        learning_rate=learning_rate,
        total_steps=epochs * num_batches(train_data, "train_data", batch_size),
    )
