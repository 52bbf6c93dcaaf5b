"""Preemption-safe checkpoints of the whole training state, on any backend.

A checkpoint is a folder `ckpt-<step>/` holding
- `model.weights.h5`: every variable of the training model: online and target networks, heads,
  the learned bandwidth, BatchNorm statistics, and the optimizer (all sub-optimizers, their
  step counters and schedule positions), written by Keras' own weights format;
- `state.json`: the step (which is also the data position: pipelines restart at a step) and
  whatever the caller adds (epoch, config fingerprint, wall time).

Writes are atomic: everything goes to `ckpt-<step>.tmp-<pid>/`, files are fsynced, and the folder
is renamed to `ckpt-<step>/` last. A process killed mid-write leaves only a `.tmp-*` folder,
which is never taken as a checkpoint and is removed at the next start. Randomness needs no
state: steps derive their seeds from (seed, step).
"""

import json
import os
import re
import shutil
import time

import numpy as np

_NAME = re.compile(r"^ckpt-(\d+)$")
WEIGHTS = "model.weights.h5"
STATE = "state.json"


def _fsync_dir(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_file(path):
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def is_chief():
    """True where this process should write (single process, or the chief/worker 0 of a cluster)."""
    tf_config = os.environ.get("TF_CONFIG")
    if not tf_config:
        return True
    task = json.loads(tf_config).get("task", {})
    kind, index = task.get("type"), int(task.get("index", 0))
    cluster = json.loads(tf_config).get("cluster", {})
    if "chief" in cluster:
        return kind == "chief"
    return kind in (None, "worker") and index == 0


class CheckpointManager:
    """Saves and restores `ckpt-<step>` folders in `directory`, keeping the newest `max_to_keep`."""

    def __init__(self, directory, max_to_keep=3):
        if max_to_keep is not None and int(max_to_keep) < 1:
            raise ValueError(f"max_to_keep must be >= 1 or None; got {max_to_keep}")
        self.directory = os.path.abspath(directory)
        self.max_to_keep = max_to_keep
        os.makedirs(self.directory, exist_ok=True)
        self._remove_partial()

    def _remove_partial(self):
        for name in os.listdir(self.directory):
            if ".tmp-" in name and name.startswith("ckpt-"):
                shutil.rmtree(os.path.join(self.directory, name), ignore_errors=True)

    def steps(self):
        """Steps of the complete checkpoints, ascending."""
        out = []
        for name in os.listdir(self.directory):
            m = _NAME.match(name)
            path = os.path.join(self.directory, name)
            if m and os.path.isfile(os.path.join(path, STATE)) and os.path.isfile(
                os.path.join(path, WEIGHTS)
            ):
                out.append(int(m.group(1)))
        return sorted(out)

    def latest_step(self):
        steps = self.steps()
        return steps[-1] if steps else None

    def path(self, step):
        return os.path.join(self.directory, f"ckpt-{int(step):09d}")

    def save(self, model, step, **state):
        """Writes the checkpoint of `model` at `step` atomically; returns its folder.

        Refuses weights that are not finite (the last good checkpoint stays the latest).
        """
        step = int(step)
        for v in model.weights:
            value = np.asarray(v.numpy() if hasattr(v, "numpy") else v)
            if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
                raise FloatingPointError(
                    f"not saving checkpoint at step {step}: variable {v.path} is not finite"
                )
        final = self.path(step)
        if not is_chief():
            return final
        tmp = f"{final}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        model.save_weights(os.path.join(tmp, WEIGHTS))
        payload = {"step": step, "time": time.time(), **state}
        with open(os.path.join(tmp, STATE), "w") as f:
            json.dump(payload, f, indent=1, sort_keys=True)
        for name in (WEIGHTS, STATE):
            _fsync_file(os.path.join(tmp, name))
        _fsync_dir(tmp)
        if os.path.exists(final):
            shutil.rmtree(final)
        os.rename(tmp, final)
        _fsync_dir(self.directory)
        self._prune()
        return final

    def _prune(self):
        if self.max_to_keep is None:
            return
        for step in self.steps()[: -self.max_to_keep]:
            shutil.rmtree(self.path(step), ignore_errors=True)

    def read_state(self, step=None):
        step = self.latest_step() if step is None else step
        if step is None:
            return None
        with open(os.path.join(self.path(step), STATE)) as f:
            return json.load(f)

    def restore(self, model, step=None):
        """Loads checkpoint `step` (default: the latest) into `model`; returns its state or None.

        The model must be built and compiled with the same configuration, and its optimizer
        built (`model.optimizer.build(model.trainable_variables)`), so that every variable the
        checkpoint holds exists.
        """
        step = self.latest_step() if step is None else int(step)
        if step is None:
            return None
        path = os.path.join(self.path(step), WEIGHTS)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no checkpoint at step {step} in {self.directory}")
        model.load_weights(path)
        return self.read_state(step)
