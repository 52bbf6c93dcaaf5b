"""Keras callbacks of the pretraining loop: checkpoints, the divergence policy, a kNN monitor,
the training log.

Test-only fault hook: with `SSLHSIC_FAULT_NONFINITE_STEP=N` in the environment the pretraining
loop adds `InjectNonFinite(N)`, which overwrites one encoder weight with NaN right before step N
(once per process), so that the loss of step N is non-finite: a real divergence for the policy
tests (`tests/faults/`).
"""

import json
import logging
import math
import os
import time

import keras
import numpy as np

from sslhsic_tf.training.checkpoint import nonfinite_weights

log = logging.getLogger("sslhsic_tf")

NONFINITE_POLICIES = ("stop", "rollback")
FAULT_NONFINITE_ENV = "SSLHSIC_FAULT_NONFINITE_STEP"


def _floats(logs):
    out = {}
    for k, v in (logs or {}).items():
        try:
            out[k] = float(np.asarray(v).reshape(-1)[0])
        except (TypeError, ValueError, IndexError):
            continue
    return out


class _StepCounter(keras.callbacks.Callback):
    """Knows the global step of each batch without reading the model (no JAX state sync).

    The pretraining loop makes a fit epoch one checkpoint interval of `params["steps"]` steps and
    starts fit at an interval boundary, so step = epoch * steps + batch + 1.
    """

    def __init__(self):
        super().__init__()
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def step_of(self, batch):
        steps = (self.params or {}).get("steps")
        if steps:
            return self._epoch * int(steps) + int(batch) + 1
        return int(self.model.optimizer.iterations.numpy())


class NonFiniteGuard(_StepCounter):
    """The divergence policy: what to do when a logged training value stops being finite.

    Every batch, the logged values (loss, objective parts, probe loss, ...) are checked; at the
    end of every checkpoint interval (before its checkpoint), the weights too: they can turn
    non-finite while every logged value stays finite (oneDNN's fused BatchNorm + ReLU kernel maps
    NaN activations to 0, so NaN weights early in the encoder leave the loss finite). A
    divergence found there counts from the interval's last step: every batch since the last
    good checkpoint is skipped on rollback.
    - "stop" (default): stop training at once; `on_train_end` raises `FloatingPointError` naming
      the step, the value and the last good checkpoint, which stays the latest (nothing is
      written after the divergence).
    - "rollback": stop this `fit()` and set `rollback_to` (the latest checkpoint step); the
      pretraining loop (`training.loop.fit_with_policy`) restores that checkpoint and resumes
      after the batch that diverged, skipping the batches in between (recorded as the data
      offset in later checkpoints). At most `max_rollbacks` times per run; then as "stop".
    """

    def __init__(self, policy="stop", manager=None, max_rollbacks=3):
        super().__init__()
        if policy not in NONFINITE_POLICIES:
            raise ValueError(f"--on_nonfinite must be one of {NONFINITE_POLICIES}; got {policy!r}")
        if policy == "rollback" and manager is None:
            raise ValueError("the rollback policy needs a checkpoint manager")
        if isinstance(max_rollbacks, bool) or int(max_rollbacks) < 0:
            raise ValueError(f"max_rollbacks must be an int >= 0; got {max_rollbacks!r}")
        self.policy = policy
        self.manager = manager
        self.max_rollbacks = int(max_rollbacks)
        self.rollbacks = 0
        self._reset()

    def _reset(self):
        self.diverged_at = None  # the step whose logs were not finite
        self.bad_values = None
        self.rollback_to = None
        self.error = None

    def on_train_begin(self, logs=None):
        self._reset()

    def on_train_batch_end(self, batch, logs=None):
        values = _floats(logs)
        bad = {k: v for k, v in values.items() if not math.isfinite(v)}
        if bad:
            self._diverged(self.step_of(batch), dict(sorted(bad.items())))

    def on_epoch_end(self, epoch, logs=None):
        if self.diverged_at is not None:
            return
        bad = {f"weight {path}": value for path, value in nonfinite_weights(self.model).items()}
        if bad:
            steps = (self.params or {}).get("steps")
            step = ((epoch + 1) * int(steps) if steps
                    else int(self.model.optimizer.iterations.numpy()))
            self._diverged(step, bad)

    def _diverged(self, step, bad):
        latest = self.manager.latest_step() if self.manager is not None else None
        self.diverged_at, self.bad_values = step, bad
        what = ", ".join(f"{k}={v}" for k, v in list(bad.items())[:3])
        if len(bad) > 3:
            what += f" (and {len(bad) - 3} more)"
        if self.policy == "rollback" and self.rollbacks < self.max_rollbacks and latest is not None:
            self.rollbacks += 1
            self.rollback_to = latest
            log.warning(
                "non-finite %s at step %d: rolling back to the checkpoint of step %d and skipping "
                "the batches since (rollback %d of %d)", what, step, latest, self.rollbacks,
                self.max_rollbacks,
            )
        else:
            where = (f"the last good checkpoint is step {latest} in {self.manager.directory}"
                     if latest is not None else "no checkpoint was written before it")
            policy = ("--on_nonfinite=stop" if self.policy == "stop"
                      else f"--on_nonfinite=rollback, {self.rollbacks} rollbacks used")
            self.error = (
                f"training diverged: {what} at step {step} ({policy}); {where}. Lower the "
                "learning rate (in a new --workdir), or resume with --on_nonfinite=rollback to "
                "skip the offending batches"
            )
            log.error(self.error)
        self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.error is not None:
            raise FloatingPointError(self.error)


class Checkpointing(keras.callbacks.Callback):
    """Writes an atomic checkpoint (`training.checkpoint`) at the end of every fit epoch.

    The pretraining loop makes a fit epoch one checkpoint interval long, so checkpoints land on
    interval boundaries and a resumed run restarts exactly at one. Put it LAST in the callback
    list: the epoch's other work (logs, kNN) is done before the checkpoint that marks it done.
    `state` (e.g. `data_offset`) is stored in state.json and may be updated between fits.
    Each checkpoint also records the run's cost so far, over every process that trained it:
    `train_cpu_seconds` (this process's CPU time, all threads, since the callback was made, plus
    `prior_cpu_seconds`) and `train_wall_seconds` (likewise with `prior_wall_seconds`), and
    `segments`: one row per process, `prior_segments` then this one (`process`: its machine and
    precision, `from_step`), each with `to_step` and its own CPU and wall seconds, so a run
    resumed on another machine or under another policy says which steps trained where.
    Nothing is written after a divergence (`guard`) or with non-finite logs.
    """

    def __init__(self, manager, guard=None, prior_cpu_seconds=0.0, prior_wall_seconds=0.0,
                 prior_segments=(), process=None, **state):
        super().__init__()
        self.manager = manager
        self.guard = guard
        self.state = state
        self.prior_segments = [dict(s) for s in prior_segments]
        self.process = dict(process or {})
        self._own_cpu_start, self._own_wall_start = time.process_time(), time.time()
        self._cpu_start = self._own_cpu_start - float(prior_cpu_seconds)
        self._wall_start = self._own_wall_start - float(prior_wall_seconds)
        self._last_step = self.process.get("from_step")

    def cost(self):
        """{"train_cpu_seconds", "train_wall_seconds", "segments"} of the run so far, resumes
        included (the last segment ends at the newest checkpoint this process wrote)."""
        now_cpu, now_wall = time.process_time(), time.time()
        out = {"train_cpu_seconds": round(now_cpu - self._cpu_start, 1),
               "train_wall_seconds": round(now_wall - self._wall_start, 1)}
        if self.process:
            this = {**self.process, "to_step": self._last_step,
                    "cpu_seconds": round(now_cpu - self._own_cpu_start, 1),
                    "wall_seconds": round(now_wall - self._own_wall_start, 1)}
            trained = self._last_step != self.process.get("from_step")
            out["segments"] = self.prior_segments + ([this] if trained else [])
        return out

    def on_epoch_end(self, epoch, logs=None):
        if self.guard is not None and self.guard.diverged_at is not None:
            return
        floats = _floats(logs)
        if not all(math.isfinite(v) for v in floats.values()):
            log.warning("not checkpointing at epoch %d: non-finite logs %s", epoch, floats)
            return
        step = int(self.model.optimizer.iterations.numpy())
        self._last_step = step
        self.manager.save(self.model, step, fit_epoch=epoch + 1, logs=floats, **self.state,
                          **self.cost())


class InjectNonFinite(_StepCounter):
    """Test-only fault: overwrites one encoder weight with NaN right before step `step` (once)."""

    def __init__(self, step):
        super().__init__()
        self.step = int(step)
        self.done = False

    def on_train_batch_begin(self, batch, logs=None):
        if self.done or self.step_of(batch) != self.step:
            return
        variable = self.model.encoder.trainable_variables[0]
        variable.assign(np.full(tuple(variable.shape), np.nan, dtype=variable.dtype))
        self.done = True
        log.warning("fault injection (%s): encoder weight %s set to NaN before step %d",
                    FAULT_NONFINITE_ENV, variable.path, self.step)


class TrainLog(keras.callbacks.CSVLogger):
    """train_log.csv: one row per fit epoch (checkpoint interval), appended across resumes.

    Keras' CSVLogger fixes its columns at the first row each process writes, so a value logged
    only every few intervals (the kNN monitor's `knn_top1`) was dropped when that first row
    lacked it, and a resumed process whose first row had other keys than the file's header wrote
    misaligned rows. Here the columns are the existing header's (a resumed run) or the first
    row's keys plus `extra_keys` (a new run), written "NA" where a row lacks them; a key that
    appears later and is not a column yet adds one: the file is rewritten with it (earlier rows
    "NA").
    """

    def __init__(self, filename, extra_keys=(), separator=","):
        super().__init__(filename, separator=separator, append=True)
        self.extra_keys = tuple(extra_keys)

    def _header(self):
        import csv

        if not os.path.exists(self.filename):
            return None
        with open(self.filename, newline="") as f:
            header = next(csv.reader(f, delimiter=self.sep), None)
        return header[1:] if header and header[0] == "epoch" else None

    def _add_columns(self, keys):
        import csv

        self.csv_file.close()
        with open(self.filename, newline="") as f:
            rows = list(csv.DictReader(f, delimiter=self.sep))
        self.keys = self.keys + sorted(keys)
        tmp = f"{self.filename}.tmp-{os.getpid()}"
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, ["epoch"] + self.keys, restval="NA", delimiter=self.sep)
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, self.filename)
        self.csv_file = open(self.filename, "a", newline="")
        self.writer, self.append_header = None, False

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = self._header() or sorted(set(logs) | set(self.extra_keys))
        new = set(logs) - set(self.keys)
        if new:
            self.csv_file.flush()
            self._add_columns(new)
        super().on_epoch_end(epoch, logs)


class KnnMonitor(keras.callbacks.Callback):
    """Every `every` fit epochs, adds `knn_top1` (cosine, k = 200, T = 0.07; the train split as
    the memory bank, `test_data` as queries) of the current encoder to the logs, so that it lands
    in train_log.csv (the loop turns those rows into results.json's `knn_curve`). With
    `start_path`, the kNN of the weights before the first step is written there once
    ({"step": 0, "knn_top1": ...}; the loop reads it as the curve's first point)."""

    def __init__(self, train_data, test_data, every=1, k=200, temperature=0.07, batch_size=256,
                 start_path=None):
        super().__init__()
        self.train_data, self.test_data = train_data, test_data
        self.every, self.k, self.temperature, self.batch_size = int(every), k, temperature, batch_size
        self.start_path = start_path

    def _top1(self):
        from sslhsic_tf import evaluation

        encoder = self.model.export_encoder()
        train_f, train_l = evaluation.extract_features(encoder, self.train_data, self.batch_size)
        test_f, test_l = evaluation.extract_features(encoder, self.test_data, self.batch_size)
        return evaluation.knn_evaluate(
            train_f, train_l, test_f, test_l, ks=(self.k,), temperature=self.temperature
        )[0]["top1"]

    def on_train_begin(self, logs=None):
        if not self.start_path or os.path.exists(self.start_path):
            return
        partial = self.start_path + ".partial"
        with open(partial, "w") as f:
            json.dump({"step": 0, "knn_top1": float(self._top1())}, f)
        os.replace(partial, self.start_path)  # a kill leaves no half-written file

    def on_epoch_end(self, epoch, logs=None):
        if self.every <= 0 or (epoch + 1) % self.every:
            return
        if self.model.stop_training or not all(math.isfinite(v) for v in _floats(logs).values()):
            return  # a diverged encoder (NonFiniteGuard stopped the fit): nothing to measure
        if logs is not None:
            logs["knn_top1"] = self._top1()


class CollapseWarning(keras.callbacks.Callback):
    """Says in one log line when a collapse indicator stays at its collapsed value.

    The method names its indicators (`SSLModel.collapse_indicators()`: log name -> (collapsed
    value, tolerance)); every method has `repr_std` (the spread of the normalised features,
    about 1 when spread, 0 when collapsed), SSL-HSIC adds `hsic_zy` at 1/(M - 1). When an
    indicator stays within its tolerance of the collapsed value for `patience` consecutive
    steps, the log says so once (again only after it has left the collapsed value). The step
    values are recovered from Keras' running epoch means, `v_k = (k + 1) m_k - k m_(k-1)`.
    """

    def __init__(self, patience=50):
        super().__init__()
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ValueError(f"patience must be an int >= 1 (steps), got {patience!r}")
        self.patience = patience
        self.runs = {}  # name -> consecutive collapsed steps
        self.warned = set()
        self.warnings = []  # the messages, for results and tests
        self._means = {}
        self._step = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._means = {}

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        values = _floats(logs)
        indicators = getattr(self.model, "collapse_indicators", dict)()
        for name, (collapsed, tolerance) in indicators.items():
            if name not in values:
                continue
            mean, previous = values[name], self._means.get(name)
            value = mean if previous is None or batch == 0 else (batch + 1) * mean - batch * previous
            self._means[name] = mean
            if abs(value - collapsed) <= tolerance:
                self.runs[name] = self.runs.get(name, 0) + 1
            else:
                self.runs[name] = 0
                self.warned.discard(name)
            if self.runs[name] >= self.patience and name not in self.warned:
                self.warned.add(name)
                message = (
                    f"collapse warning: {name}={value:.4g} has stayed within {tolerance:g} of its "
                    f"collapsed value {collapsed:.4g} for {self.runs[name]} steps (step "
                    f"{self._step} of this run); the representation is collapsing"
                )
                self.warnings.append(message)
                log.warning(message)
