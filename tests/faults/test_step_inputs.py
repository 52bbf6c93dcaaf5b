"""Bad batches handed to `fit()` of a training model: clear errors, not wrong numbers.

The scripts' pipelines always produce valid batches; these are the checks for users who call
`model.fit` on their own data (`SSLModel.unpack_batch` and the online probe).
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from sslhsic_tf import methods

pytestmark = pytest.mark.faults


def _encoder():
    x = keras.Input((None, None, 3))
    h = keras.layers.Conv2D(8, 3, strides=2, padding="same")(x)
    h = keras.layers.ReLU()(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(x, h, name="tiny")


def _model(num_classes=3):
    model = methods.create("simclr", _encoder(), total_steps=4, batch_size=4,
                           num_classes=num_classes, projector_hidden=16, projection_dim=8)
    model.compile()
    return model


def _fit(model, batch):
    ds = tf.data.Dataset.from_tensors(batch).repeat()
    return model.fit(ds, epochs=1, steps_per_epoch=1, verbose=0)


def _views(batch_sizes=(4, 4), dtype="float32", size=8):
    rng = np.random.default_rng(0)
    out = []
    for b in batch_sizes:
        v = rng.random((b, size, size, 3), dtype=np.float32)
        out.append((v * 255).astype(dtype) if dtype == "uint8" else v.astype(dtype))
    return tuple(out)


LABELS = np.array([0, 1, 2, 1], np.int32)


@pytest.mark.parametrize("case, batch, error, message", [
    ("uint8 views", lambda: {"views": _views(dtype="uint8"), "label": LABELS},
     ValueError, r"views\[0\] must be float RGB in \[0, 1\]; got dtype uint8"),
    ("views of different batch sizes", lambda: {"views": _views((4, 2)), "label": LABELS},
     ValueError, r"must hold the same images: batch sizes \[4, 2, 4\] differ"),
    ("label batch differs from views", lambda: {"views": _views(), "label": LABELS[:3]},
     ValueError, r"batch sizes \[4, 4, 3\] differ"),
    ("one-hot float labels", lambda: {"views": _views(), "label": np.eye(3, dtype="float32")[LABELS]},
     TypeError, r"batch\['label'\] must be integer class indices \[B\]"),
    ("views stacked in one tensor", lambda: {"views": np.stack(_views()), "label": LABELS},
     TypeError, r"batch\['views'\] must be a tuple of views"),
    ("grayscale views", lambda: {"views": tuple(v[..., :1] for v in _views()), "label": LABELS},
     ValueError, r"views\[0\] must be images \[B, H, W, 3\]"),
    ("no views key", lambda: {"images": _views()[0], "label": LABELS},
     ValueError, r"fit\(\) expects batches \{'views'"),
])
def test_bad_batches_are_refused_when_the_step_is_traced(case, batch, error, message, faults):
    faults.inject(f"fit() batch: {case}")
    model = _model()
    with pytest.raises(error, match=message):
        _fit(model, batch())
    assert int(model.optimizer.iterations.numpy()) == 0  # nothing was applied
    faults.survive(f"fit() batch: {case}")


def test_probe_labels_out_of_range_stop_the_step(faults):
    faults.inject("fit() batch: label >= num_classes")
    model = _model(num_classes=3)
    before = [np.array(v.numpy()) for v in model.trainable_variables]
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"online probe: labels must be < num_classes=3"):
        _fit(model, {"views": _views(), "label": np.array([0, 1, 5, 1], np.int32)})
    after = [np.array(v.numpy()) for v in model.trainable_variables]
    assert all(np.array_equal(a, b) for a, b in zip(before, after))
    # Valid labels (and -1 = unlabelled) train.
    history = _fit(model, {"views": _views(), "label": np.array([0, -1, 2, 1], np.int32)})
    assert np.isfinite(history.history["loss"][0])
    faults.survive("fit() batch: label >= num_classes")
