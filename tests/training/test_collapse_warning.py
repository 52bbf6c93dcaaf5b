"""The collapse warning: one log line when an indicator stays at its collapsed value."""

import logging

import numpy as np
import pytest

from sslhsic_tf.training.callbacks import CollapseWarning


class _Model:
    def collapse_indicators(self):
        return {"repr_std": (0.0, 0.05), "hsic_zy": (1.0, 2e-3)}


def _feed(callback, steps_per_epoch, values):
    """Feeds per-step values as Keras does: running means over each epoch."""
    step = 0
    while step < len(values):
        callback.on_epoch_begin(step // steps_per_epoch)
        chunk = values[step:step + steps_per_epoch]
        for batch in range(len(chunk)):
            means = {k: float(np.mean([v[k] for v in chunk[:batch + 1]])) for k in chunk[0]}
            callback.on_train_batch_end(batch, means)
        step += len(chunk)


def test_warns_once_per_collapse_with_the_value(caplog):
    callback = CollapseWarning(patience=20)
    callback.set_model(_Model())
    healthy = [{"repr_std": 0.6, "hsic_zy": 1.2}] * 30
    collapsed = [{"repr_std": 0.01, "hsic_zy": 1.2}] * 25  # the running mean stays high
    with caplog.at_level(logging.WARNING, logger="sslhsic_tf"):
        _feed(callback, 40, healthy + collapsed + healthy[:10] + collapsed)
    assert len(callback.warnings) == 2, callback.warnings
    first = callback.warnings[0]
    assert first.startswith("collapse warning: repr_std=0.01 ") and "for 20 steps (step 50" in first
    assert "collapsing" in caplog.text
    # Not at the collapsed value, or not for long enough: no warning.
    quiet = CollapseWarning(patience=20)
    quiet.set_model(_Model())
    _feed(quiet, 40, healthy + collapsed[:19] + healthy)
    assert quiet.warnings == []


def test_hsic_zy_at_its_collapse_level_and_bad_patience():
    callback = CollapseWarning(patience=5)
    callback.set_model(_Model())
    _feed(callback, 7, [{"repr_std": 0.5, "hsic_zy": 1.0 + 1e-4}] * 6)
    assert len(callback.warnings) == 1 and callback.warnings[0].startswith("collapse warning: hsic_zy=")
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="patience must be an int >= 1"):
            CollapseWarning(patience=bad)


# Every method's indicators (and that each is logged): tests/methods/test_training_model.py::
# test_save_reload_resumes_identically, which trains every method anyway.
