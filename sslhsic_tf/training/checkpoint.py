"""Preemption-safe checkpoints of the whole training state, on any backend.

A checkpoint is a folder `ckpt-<step>/` holding
- `model.weights.h5`: every variable of the training model: online and target networks, heads,
  the learned bandwidth, BatchNorm statistics, and the optimizer (all sub-optimizers, their
  step counters and schedule positions), written by Keras' own weights format;
- `state.json`: the step, the data position (`data_offset`: the pipeline restarts at batch
  `step + data_offset`; non-zero only after a rollback skipped batches), the size and SHA-256 of
  the weights file, and whatever the caller adds (fit epoch, logs).

Writes are atomic: everything goes to `ckpt-<step>.tmp-<pid>/`, files are fsynced, and the folder
is renamed to `ckpt-<step>/` last. A process killed mid-write leaves only a `.tmp-*` folder,
which is never taken as a checkpoint and is removed at the next start. A `ckpt-*` folder counts
only with both files and a readable `state.json`; at restore, a weights file whose size or
checksum disagrees with its `state.json` is skipped (with a warning naming it) for the newest
checkpoint that verifies. Randomness needs no state: steps derive their seeds from (seed, step).

Test-only fault hook: with `SSLHSIC_FAULT_CHECKPOINT_DELAY="[STEP:]SECONDS"` in the environment,
`save` sleeps SECONDS after writing the files and before the rename (for the checkpoint of STEP
only, when given), so that a test can kill the process in the middle of a write.
"""

import hashlib
import json
import logging
import os
import re
import shutil
import time

import numpy as np

log = logging.getLogger("sslhsic_tf")

_NAME = re.compile(r"^ckpt-(\d+)$")
WEIGHTS = "model.weights.h5"
STATE = "state.json"
FAULT_DELAY_ENV = "SSLHSIC_FAULT_CHECKPOINT_DELAY"


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


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_json_atomic(path, payload):
    """Writes `payload` as JSON to `path` through a fsynced temporary file and a rename."""
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(payload, f, indent=1, sort_keys=True, default=str)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(os.path.dirname(os.path.abspath(path)))


def _fault_delay(step):
    """Seconds to sleep before the rename of checkpoint `step` (test hook; 0 when unset)."""
    spec = os.environ.get(FAULT_DELAY_ENV, "").strip()
    if not spec:
        return 0.0
    target, _, seconds = spec.rpartition(":")
    try:
        if target and int(target) != step:
            return 0.0
        return float(seconds)
    except ValueError:
        raise ValueError(f"{FAULT_DELAY_ENV} must be '[STEP:]SECONDS'; got {spec!r}") from None


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


def nonfinite_weights(model):
    """{variable path: its first non-finite value} over `model.weights`, in the model's order
    (the first is nearest the input); {} when every float weight is finite."""
    bad = {}
    for variable in model.weights:
        value = np.asarray(variable.numpy() if hasattr(variable, "numpy") else variable)
        if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            bad[variable.path] = float(value[~np.isfinite(value)].flat[0])
    return bad


class CheckpointManager:
    """Saves and restores `ckpt-<step>` folders in `directory`, keeping the newest `max_to_keep`."""

    def __init__(self, directory, max_to_keep=3):
        if max_to_keep is not None and (isinstance(max_to_keep, bool) or int(max_to_keep) < 1):
            raise ValueError(f"max_to_keep (keep_checkpoints) must be >= 1 or None; got {max_to_keep}")
        self.directory = os.path.abspath(directory)
        self.max_to_keep = None if max_to_keep is None else int(max_to_keep)
        os.makedirs(self.directory, exist_ok=True)
        self.removed_partial = self._remove_partial()

    def _remove_partial(self):
        """Deletes the temporary folders of writes that never finished; returns their names."""
        removed = []
        if not is_chief():
            return removed
        for name in sorted(os.listdir(self.directory)):
            if name.startswith("ckpt-") and ".tmp-" in name:
                shutil.rmtree(os.path.join(self.directory, name), ignore_errors=True)
                removed.append(name)
        if removed:
            log.warning("removed %d unfinished checkpoint write(s) in %s: %s", len(removed),
                        self.directory, ", ".join(removed))
        return removed

    def _read_state_file(self, folder):
        try:
            with open(os.path.join(folder, STATE)) as f:
                state = json.load(f)
        except (OSError, ValueError):
            return None
        return state if isinstance(state, dict) else None

    def steps(self):
        """Steps of the complete checkpoints (both files, a readable state.json), ascending."""
        out = []
        for name in os.listdir(self.directory):
            m = _NAME.match(name)
            if not m:
                continue
            path = os.path.join(self.directory, name)
            state = self._read_state_file(path)
            if state is None or not os.path.isfile(os.path.join(path, WEIGHTS)):
                continue
            if int(state.get("step", -1)) != int(m.group(1)):
                continue
            out.append(int(m.group(1)))
        return sorted(out)

    def latest_step(self):
        steps = self.steps()
        return steps[-1] if steps else None

    def path(self, step):
        return os.path.join(self.directory, f"ckpt-{int(step):09d}")

    def verify(self, step):
        """None if checkpoint `step` is complete and its weights match state.json, else the reason."""
        folder = self.path(step)
        state = self._read_state_file(folder)
        if state is None:
            return f"{STATE} is missing or unreadable"
        weights = os.path.join(folder, WEIGHTS)
        if not os.path.isfile(weights):
            return f"{WEIGHTS} is missing"
        expected = (state.get("files") or {}).get(WEIGHTS)
        if expected is None:  # written before checksums were recorded
            return None
        size = os.path.getsize(weights)
        if size != expected.get("bytes"):
            return f"{WEIGHTS} has {size} bytes, {expected.get('bytes')} were written"
        if _sha256(weights) != expected.get("sha256"):
            return f"{WEIGHTS} does not match its SHA-256 in {STATE} (corrupt)"
        return None

    def save(self, model, step, **state):
        """Writes the checkpoint of `model` at `step` atomically; returns its folder.

        Refuses weights that are not finite (FloatingPointError; the last good checkpoint stays
        the latest).
        """
        step = int(step)
        bad = nonfinite_weights(model)
        if bad:
            raise FloatingPointError(
                f"not saving checkpoint at step {step}: variable {next(iter(bad))} is not finite "
                f"(the last good checkpoint is step {self.latest_step()})"
            )
        final = self.path(step)
        if not is_chief():
            return final
        tmp = f"{final}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        weights = os.path.join(tmp, WEIGHTS)
        model.save_weights(weights)
        _fsync_file(weights)
        payload = {
            "step": step,
            "time": time.time(),
            "files": {WEIGHTS: {"bytes": os.path.getsize(weights), "sha256": _sha256(weights)}},
            **state,
        }
        write_json_atomic(os.path.join(tmp, STATE), payload)
        _fsync_dir(tmp)
        delay = _fault_delay(step)
        if delay:
            time.sleep(delay)
        if os.path.exists(final):
            # Same step written again: move the old one aside (a ".tmp-" name, so an interrupted
            # replacement is cleaned up at the next start), put the new one in place, delete.
            old = f"{final}.tmp-old-{os.getpid()}"
            os.rename(final, old)
            os.rename(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
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
        """The state.json of checkpoint `step` (default: the latest complete one), or None."""
        step = self.latest_step() if step is None else step
        if step is None:
            return None
        return self._read_state_file(self.path(step))

    def restore(self, model, step=None):
        """Loads checkpoint `step` (default: the newest that verifies) into `model`.

        Returns its state dict, or None when there is no checkpoint. Without `step`, a newest
        checkpoint that fails verification (`verify`) is skipped with a warning naming it; if
        none verifies, ValueError. With `step`, that checkpoint or FileNotFoundError/ValueError.

        The model must be built and compiled with the same configuration, and its optimizer
        built (`model.optimizer.build(model.trainable_variables)`), so that every variable the
        checkpoint holds exists.
        """
        if step is not None:
            step = int(step)
            if step not in self.steps():
                raise FileNotFoundError(f"no complete checkpoint at step {step} in {self.directory}")
            problem = self.verify(step)
            if problem:
                raise ValueError(f"checkpoint {self.path(step)} is unusable: {problem}")
            model.load_weights(os.path.join(self.path(step), WEIGHTS))
            return self.read_state(step)
        problems = []
        for candidate in reversed(self.steps()):
            problem = self.verify(candidate)
            if problem:
                log.warning("skipping checkpoint %s: %s", self.path(candidate), problem)
                problems.append(f"{os.path.basename(self.path(candidate))}: {problem}")
                continue
            model.load_weights(os.path.join(self.path(candidate), WEIGHTS))
            return self.read_state(candidate)
        if problems:
            raise ValueError(
                f"no usable checkpoint in {self.directory} ({'; '.join(problems)}); move the "
                "folder away to start over, or restore a backup"
            )
        return None
