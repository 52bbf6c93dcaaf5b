"""Keras callbacks of the pretraining loop: checkpoints, the divergence policy, a kNN monitor."""

import logging
import math

import keras
import numpy as np

log = logging.getLogger("sslhsic_tf")

NONFINITE_POLICIES = ("stop", "rollback")


class Checkpointing(keras.callbacks.Callback):
    """Writes an atomic checkpoint (`training.checkpoint`) at the end of every fit epoch.

    The pretraining loop makes a fit epoch one checkpoint interval long, so checkpoints land on
    interval boundaries and a resumed run restarts exactly at one.
    """

    def __init__(self, manager, **state):
        super().__init__()
        self.manager = manager
        self.state = state

    def on_epoch_end(self, epoch, logs=None):
        if logs and not all(np.isfinite(v) for v in _floats(logs).values()):
            log.warning("not checkpointing at epoch %d: non-finite logs %s", epoch, logs)
            return
        step = int(self.model.optimizer.iterations.numpy())
        self.manager.save(self.model, step, fit_epoch=epoch + 1, logs=_floats(logs), **self.state)


def _floats(logs):
    out = {}
    for k, v in (logs or {}).items():
        try:
            out[k] = float(np.asarray(v).reshape(-1)[0])
        except (TypeError, ValueError):
            continue
    return out


class NonFiniteGuard(keras.callbacks.Callback):
    """The divergence policy: what to do when the training loss stops being finite.

    - "stop" (default): stop training at once with a clear error; no checkpoint is written
      after the divergence, so the last good checkpoint stays the latest.
    - "rollback": restore the last good checkpoint (weights, optimizer, step) and go on with
      the next batches, up to `max_rollbacks` times; then stop as above.
    The error raised at the end is `FloatingPointError` naming the step and the policy.
    """

    def __init__(self, policy="stop", manager=None, max_rollbacks=3):
        super().__init__()
        if policy not in NONFINITE_POLICIES:
            raise ValueError(f"--on_nonfinite must be one of {NONFINITE_POLICIES}; got {policy!r}")
        if policy == "rollback" and manager is None:
            raise ValueError("the rollback policy needs a checkpoint manager")
        self.policy = policy
        self.manager = manager
        self.max_rollbacks = int(max_rollbacks)
        self.rollbacks = 0
        self.error = None

    def on_train_batch_end(self, batch, logs=None):
        loss = _floats(logs).get("loss", 0.0)
        if math.isfinite(loss):
            return
        step = int(self.model.optimizer.iterations.numpy())
        if self.policy == "rollback" and self.rollbacks < self.max_rollbacks:
            restored = self.manager.restore(self.model) if self.manager.latest_step() is not None else None
            if restored is not None:
                self.rollbacks += 1
                for m in self.model.metrics:
                    m.reset_state()
                log.warning(
                    "non-finite loss at step %d: rolled back to the checkpoint of step %d "
                    "(rollback %d of %d)", step, restored["step"], self.rollbacks,
                    self.max_rollbacks,
                )
                return
        latest = self.manager.latest_step() if self.manager is not None else None
        self.error = (
            f"training diverged: the loss is {loss} at step {step} (policy --on_nonfinite="
            f"{self.policy}{', rollbacks exhausted' if self.policy == 'rollback' else ''}); the "
            f"last good checkpoint is step {latest}. Lower the learning rate or use "
            "--on_nonfinite=rollback."
        )
        log.error(self.error)
        self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.error is not None:
            raise FloatingPointError(self.error)


class KnnMonitor(keras.callbacks.Callback):
    """Every `every` fit epochs, adds `knn_top1` (cosine, k, T = 0.07) of the current encoder to the logs."""

    def __init__(self, train_data, test_data, every=1, k=20, temperature=0.07, batch_size=256):
        super().__init__()
        self.train_data, self.test_data = train_data, test_data
        self.every, self.k, self.temperature, self.batch_size = int(every), k, temperature, batch_size

    def on_epoch_end(self, epoch, logs=None):
        if self.every <= 0 or (epoch + 1) % self.every:
            return
        from sslhsic_tf import evaluation

        encoder = self.model.export_encoder()
        train_f, train_l = evaluation.extract_features(encoder, self.train_data, self.batch_size)
        test_f, test_l = evaluation.extract_features(encoder, self.test_data, self.batch_size)
        record = evaluation.knn_evaluate(
            train_f, train_l, test_f, test_l, ks=(self.k,), temperature=self.temperature
        )[0]
        if logs is not None:
            logs["knn_top1"] = record["top1"]
