"""Pretraining with the data on the accelerator (JAX, no TensorFlow): the GPU recipe's loop.

`pretrain_on_device(config, workdir)` is what `sslhsic-pretrain` runs for a config with
`data.on_device=True` (KERAS_BACKEND=jax). One loop with explicit state:

- data: the uint8 train and test splits decoded with pillow in worker processes (before JAX
  starts its threads; `data.arrays`: `cifar10_archive:PATH` or `demo`) and held on the device;
  each step gathers its batch from a per-epoch permutation and augments it inside the jitted
  step (`data.device.augment_views`), so no input pipeline runs on the host;
- the step: the method's `train_step` under `jax.jit` with the state donated; every optimizer
  step counter is set to the schedule position before each step (`ScheduleClock`);
- at most one step in flight: the loss of step s is read (a real value) before step s + 1 is
  queued, so the wall-clock checks are true and a non-finite loss stops the run at once;
- a wall-clock budget (`budget.minutes` > 0, from the command's start): the model is built for
  a planned step count (`budget.planned_images_per_second`, on purpose too high), and after 20
  timed steps (or 2 s), then every 300 (more often near the end), `ScheduleClock` fits the
  learning-rate, EMA and warmup schedules to the measured speed so that they end at the last
  step the budget allows;
  training stops `budget.reserve_seconds` before the budget ends;
- the end, in order of value: the checkpoint (weights first), `model.keras` and
  `encoder.keras`, then kNN (k = 200, cosine) from a float32 copy of the encoder on the device,
  `results.json` and `train_log.csv` (one row per `checkpoint_every_steps`).

A fixed-length run (`budget.minutes` = 0) checkpoints every `checkpoint_every_steps` and resumes
from its last checkpoint like any other; a budgeted run is planned from its start and checkpoints
once, at its end (a restart in the same --workdir is refused). The SavedModel export needs
TensorFlow: `sslhsic-export --workdir=...` on a machine that has it turns the run into one.
"""

import csv
import json
import logging
import math
import os
import time

from sslhsic_tf.training.checkpoint import CheckpointManager, write_json_atomic
from sslhsic_tf.training.config_checks import check_config, precision_options, resolve_sources

log = logging.getLogger("sslhsic_tf")

CALIBRATE_STEPS = 20  # timed steps before the first fit of the schedules to the speed,
CALIBRATE_SECONDS = 2.0  # or this long (at least 2 steps) where the steps are slow
RECALIBRATE_EVERY = 300  # steps between later fits
WARMUP_STEPS = 3  # untimed first steps (allocation, autotuning)
LOGGED = ("loss", "hsic_zy", "hsic_zz", "bandwidth", "probe_top1", "learning_rate", "tau")


class ScheduleClock:
    """Maps the loop's step to the schedules' step so that the schedules of a `planned`-step
    run end exactly when the wall-clock budget does.

    The model is built (and its step compiled) for `planned` steps before the speed is known.
    `fit(step, steps_per_second, seconds_left)` predicts the last step the budget allows and,
    from `step` on, advances the schedule position linearly from where it is to `planned` at that
    step. Until the first fit the two agree; a `fixed` clock never re-plans (a fixed-length run).
    The loop calls `start_timing` after its warm-up steps and `tick` after every step: the clock
    measures the speed of the steps since its last fit and fits when `due`.
    """

    def __init__(self, planned, fixed=False):
        self.planned, self.fixed = int(planned), bool(fixed)
        self.anchor_step, self.anchor_position, self.last_step = 0, 0.0, self.planned
        self.fitted = False
        self.mark_step = self.mark_time = None  # where the speed is measured from

    def start_timing(self, step, now):
        """Measures the speed from `step`, trained by time `now` (after the compiling steps)."""
        self.mark_step, self.mark_time = step, now

    def tick(self, step, now, train_end):
        """After `step` steps at time `now`: when a fit is `due`, fits the schedules to the speed
        of the steps since the last fit and the seconds left until `train_end`, and returns that
        speed (steps a second); otherwise (or before `start_timing`) returns None."""
        if self.mark_step is None or not self.due(step, step - self.mark_step,
                                                  now - self.mark_time):
            return None
        steps_per_second = (step - self.mark_step) / (now - self.mark_time)
        self.fit(step, steps_per_second, train_end - now)
        self.mark_step, self.mark_time = step, now
        return steps_per_second

    def due(self, step, steps_since, seconds_since):
        """Whether to fit at `step`, `steps_since` steps and `seconds_since` seconds after the
        last fit (or the first timed step): the first fit after CALIBRATE_STEPS steps or
        CALIBRATE_SECONDS, whichever comes first (a slow or shared machine must not spend its
        budget on the unfitted plan), then every RECALIBRATE_EVERY steps, more often as the
        end nears, so that a change of speed still ends the schedules on time."""
        if not self.fitted:
            return steps_since >= CALIBRATE_STEPS or (
                steps_since >= 2 and seconds_since >= CALIBRATE_SECONDS)
        return steps_since >= min(RECALIBRATE_EVERY, max(5, (self.last_step - step) // 8))

    def fit(self, step, steps_per_second, seconds_left):
        self.fitted = True
        if self.fixed:
            return
        position = self.position(step)
        self.anchor_step, self.anchor_position = step, position
        self.last_step = step + max(1, int(steps_per_second * seconds_left))

    def position(self, step):
        if step >= self.last_step:
            return float(self.planned)
        slope = (self.planned - self.anchor_position) / (self.last_step - self.anchor_step)
        return self.anchor_position + slope * (step - self.anchor_step)

    def counter(self, step):
        """The optimizer step counter for `step`: the position, below `planned`."""
        return min(int(self.position(step)), self.planned - 1)


def load_arrays(spec, flag, num_workers):
    """(uint8 images, int32 labels) of a `demo:SPLIT` or `cifar10_archive:PATH:SPLIT` spec,
    decoded with pillow (no TensorFlow)."""
    from sslhsic_tf.data import arrays

    kind, _, rest = spec.partition(":")
    if kind == "demo":
        path, split = arrays.DEMO_ARCHIVE, rest or "train"
    elif kind == "cifar10_archive":
        path, _, split = rest.rpartition(":")
        if split not in ("train", "test"):
            path, split = rest, "train"
    else:
        raise ValueError(f"{flag}={spec}: data.on_device reads demo or cifar10_archive:PATH "
                         "sources (decoded without TensorFlow); use one of them, or train with "
                         "--config.data.on_device=False")
    try:
        return arrays.cifar10_archive_arrays(path, split, num_workers=num_workers)
    except (OSError, ValueError) as err:
        raise ValueError(f"{flag}={spec}: {err}") from None


def _check(config):
    import keras

    if keras.backend.backend() != "jax":
        raise ValueError("--config.data.on_device=True trains under JAX: set KERAS_BACKEND=jax "
                         f"(the backend is {keras.backend.backend()!r}), or set "
                         "--config.data.on_device=False")
    budget = config.budget
    for key in ("minutes", "reserve_seconds", "planned_images_per_second"):
        value = budget.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"--config.budget.{key}={value!r}: expected a number >= 0")
    if budget.minutes and budget.minutes * 60 <= budget.reserve_seconds:
        raise ValueError(f"--config.budget.minutes={budget.minutes} leaves nothing after "
                         f"--config.budget.reserve_seconds={budget.reserve_seconds}")
    if budget.minutes and not budget.planned_images_per_second:
        raise ValueError("--config.budget.planned_images_per_second must be > 0 with a budget "
                         "(an over-estimate of the training speed)")


def _write_log(path, rows):
    keys = ["epoch"] + sorted({k for row in rows for k in row if k != "epoch"})
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, keys, restval="NA")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def _read_log(path, before_epoch):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return [row for row in csv.DictReader(f) if int(row["epoch"]) < before_epoch]


def _encode_fn(encoder_args, weights, policy_name):
    """A jitted float32 inference function of the encoder on uint8 images, in chunks."""
    import jax
    import keras
    import numpy as np

    from sslhsic_tf import models

    keras.mixed_precision.set_global_policy("float32")
    try:
        encoder = models.resnet(**encoder_args)
    finally:
        keras.mixed_precision.set_global_policy(policy_name)
    encoder.set_weights(weights)
    trainable = [v.value for v in encoder.trainable_variables]
    non_trainable = [v.value for v in encoder.non_trainable_variables]
    forward = jax.jit(lambda tv, ntv, x: encoder.stateless_call(tv, ntv, x, training=False)[0])

    def encode(images, chunk=1000):
        return np.concatenate([
            np.asarray(forward(trainable, non_trainable,
                               images[i:i + chunk].astype("float32") / 255.0))
            for i in range(0, len(images), chunk)]).astype("float32")

    return encode


def pretrain_on_device(config, workdir, *, command=None, evaluate=True):
    """Runs (or resumes, at a fixed length) the run of `config` with its data on the device;
    returns the results dict (also written to `workdir/results.json`)."""
    t0 = time.time()
    check_config(config)
    _check(config)
    flags = resolve_sources(config)
    from sslhsic_tf.training import loop

    workdir = os.path.abspath(workdir)
    os.makedirs(workdir, exist_ok=True)
    manager = CheckpointManager(os.path.join(workdir, "checkpoints"),
                                max_to_keep=config.get("keep_checkpoints", 3))
    loop._check_workdir(workdir, config, manager)
    budgeted = bool(config.budget.minutes)
    if budgeted and manager.steps():
        raise ValueError(f"--workdir={workdir} holds a finished or interrupted run with a time "
                         "budget (budgeted runs are planned from their start); use a new "
                         "--workdir")

    workers = min(os.cpu_count() or 1, 16)
    workers = workers if workers > 2 else 0
    x_train, y_train = load_arrays(config.data.train, flags["train"], workers)
    x_test = y_test = None
    if config.data.get("test"):
        x_test, y_test = load_arrays(config.data.test, flags["test"], workers)
    data_seconds = time.time() - t0
    log.info("data: %d train + %d test images in %.1f s", len(x_train),
             0 if x_test is None else len(x_test), data_seconds)

    import jax
    import keras
    import numpy as np

    from sslhsic_tf import methods, models
    from sslhsic_tf.data import device
    from sslhsic_tf.evaluation import knn
    from sslhsic_tf.utils import backend
    from sslhsic_tf.utils import random as rng_lib

    batch = int(config.batch_size)
    if len(x_train) < batch:
        raise ValueError(f"--config.data.train={config.data.train} has {len(x_train)} images, "
                         f"fewer than one batch (--config.batch_size={batch})")
    per_epoch = len(x_train) // batch
    interval = max(1, int(config.checkpoint_every_steps))
    if budgeted:
        train_seconds_planned = 60.0 * config.budget.minutes - config.budget.reserve_seconds
        planned = max(10, int(train_seconds_planned * config.budget.planned_images_per_second
                              / batch))
    else:
        planned = config.get("total_steps") or int(math.ceil(config.epochs * per_epoch))
    end_step = loop.stop_step(config, planned, interval, per_epoch) if not budgeted else planned

    policy, _ = precision_options(config)
    previous_policy = keras.mixed_precision.global_policy()
    if policy:
        keras.mixed_precision.set_global_policy(policy)
    policy_name = keras.mixed_precision.global_policy().name
    keras.utils.set_random_seed(config.seed)
    t_build = time.time()
    from sslhsic_tf.data import arrays

    num_classes = len(arrays.CIFAR10_CLASSES)  # load_arrays reads CIFAR-10 archives only
    encoder_args = {k: v for k, v in loop._to_dict(config.model).items()}
    encoder = models.resnet(**encoder_args)
    model = methods.create(
        config.method, encoder, total_steps=planned, batch_size=batch, num_classes=num_classes,
        seed=config.seed,
        optimizer_config={k: v for k, v in loop._to_dict(config.optimizer).items()
                          if v is not None},
        **loop._to_dict(config.method_kwargs))
    model.compile()
    model.optimizer.build(model.trainable_variables)
    restored = manager.restore(model)
    start = 0 if restored is None else int(restored["step"])
    state = ([v.value for v in model.trainable_variables],
             [v.value for v in model.non_trainable_variables],
             [v.value for v in model.optimizer.variables],
             [v.value for v in model.metrics_variables])
    counters = [i for i, v in enumerate(model.optimizer.variables)
                if v.path.split("/")[-1] == "iteration"]
    build_seconds = time.time() - t_build

    images, labels = jax.device_put(x_train), jax.device_put(y_train)
    views = config.data.views
    seed = int(config.seed)

    def step_fn(state, all_images, all_labels, order, step, counter):
        """One step on batch `step % per_epoch` of the epoch's permutation `order`, with every
        optimizer step counter at the schedule position `counter`."""
        trainable, non_trainable, optimizer_values, metric_values = state
        optimizer_values = list(optimizer_values)
        for i in counters:
            optimizer_values[i] = jax.numpy.asarray(counter, optimizer_values[i].dtype)
        idx = jax.lax.dynamic_slice_in_dim(order, (step % per_epoch) * batch, batch)
        augmented = device.augment_views(all_images[idx], rng_lib.stateless_seed(seed, step),
                                         views)
        return model.train_step((trainable, non_trainable, optimizer_values, metric_values),
                                {"views": augmented, "label": all_labels[idx]})

    def permutation(epoch):
        return jax.random.permutation(jax.random.key(seed * 100003 + epoch), len(x_train))

    t_compile = time.time()
    order = permutation(start // per_epoch)
    compiled = jax.jit(step_fn, donate_argnums=0).lower(
        state, images, labels, order, np.int32(0), np.int32(0)).compile()
    compile_seconds = time.time() - t_compile
    log.info("%s on %s: model built in %.1f s, step compiled in %.1f s; %d planned steps of %d",
             config.method, jax.devices()[0].device_kind, build_seconds, compile_seconds,
             planned, batch)

    log_path = os.path.join(workdir, "train_log.csv")
    rows = _read_log(log_path, start // interval)
    train_end = (t0 + 60.0 * config.budget.minutes - config.budget.reserve_seconds
                 if budgeted else math.inf)
    clock = ScheduleClock(planned, fixed=not budgeted)
    logs, step, pending, diverged = {}, start, None, None
    t_train = time.time()
    t_steady = steady_from = None
    while step < min(end_step, clock.last_step) and (step == start or time.time() < train_end):
        if step % per_epoch == 0 and step != start:
            order = permutation(step // per_epoch)
        logs, state = compiled(state, images, labels, order, np.int32(step),
                               np.int32(clock.counter(step)))
        if pending is not None and not math.isfinite(float(pending)):  # one step in flight
            diverged = step - 1
            break
        pending = logs["loss"]
        step += 1
        now = time.time()
        if step - start == WARMUP_STEPS:
            jax.block_until_ready(state)
            t_steady, steady_from = time.time(), step
            clock.start_timing(step, t_steady)
        elif (rate := clock.tick(step, now, train_end)) is not None and budgeted:
            log.info("step %d: %.0f img/s; the schedules end at step %d", step, rate * batch,
                     clock.last_step)
        if step % interval == 0:
            rows.append({"epoch": step // interval - 1,
                         **{k: float(logs[k]) for k in LOGGED if k in logs}})
            state = (*state[:3], [jax.numpy.zeros_like(m) for m in state[3]])  # fresh means
            if not budgeted and step < end_step:
                _assign(model, state)
                manager.save(model, step, fit_epoch=step // interval, total_steps=planned,
                             data_offset=0)
                _write_log(log_path, rows)
    jax.block_until_ready(state)
    if diverged is None and pending is not None and not math.isfinite(float(pending)):
        diverged = step - 1
    if diverged is not None:
        raise FloatingPointError(
            f"training diverged: the loss of step {diverged} is not finite (the last good "
            f"checkpoint is step {manager.latest_step()}); lower the learning rate or use a "
            "new --workdir")
    train_seconds = time.time() - t_train
    steady = (step - steady_from) / (time.time() - t_steady) if t_steady and step > steady_from \
        else (step - start) / max(train_seconds, 1e-9)

    # The end, in order of value: the weights, the Keras files, then the evaluation.
    _assign(model, state)
    manager.save(model, step, fit_epoch=math.ceil(step / interval), total_steps=planned,
                 data_offset=0)
    if step % interval and logs:
        rows.append({"epoch": step // interval, **{k: float(logs[k]) for k in LOGGED if k in logs}})
    _write_log(log_path, rows)
    from sslhsic_tf import serving

    serving.save_keras(model, os.path.join(workdir, "model.keras"), overwrite=True)
    final = model.export_encoder()
    serving.save_keras(final, os.path.join(workdir, "encoder.keras"), overwrite=True)
    results = {
        "method": config.method, "architecture": encoder_args,
        "data": {"train": config.data.train, "test": config.data.get("test"), "views": views,
                 "on_device": True},
        "batch_size": batch, "total_steps": step, "planned_steps": planned,
        "schedule_steps_fitted": clock.last_step,
        "final_schedule_position": clock.position(step), "epochs": step / per_epoch,
        "resumed_from_step": start, "train_seconds": round(train_seconds, 1),
        "data_seconds": round(data_seconds, 1), "build_seconds": round(build_seconds, 1),
        "compile_seconds": round(compile_seconds, 1),
        "images_per_second": round(steady * batch, 1),
        "budget": loop._to_dict(config.budget) if budgeted else None,
        "backend": "jax", "device": f"{jax.devices()[0].platform}:{jax.devices()[0].device_kind}",
        "precision": {"policy": policy_name, "jit_compile": True},
        "machine": backend.machine(), "command": command,
        "final_logs": {k: float(v) for k, v in logs.items()},
        "export_path": os.path.join(workdir, "encoder.keras"),
    }
    write_json_atomic(os.path.join(workdir, "results.json"), results)
    if evaluate and x_test is not None:
        encode = _encode_fn(encoder_args, encoder.get_weights(), policy_name)
        (record,) = knn.knn_evaluate(encode(x_train), y_train, encode(x_test), y_test, ks=(200,),
                                     num_classes=num_classes)
        results.update({"knn_top1": record["top1"], "knn_k": 200, "evaluation": [
            {**record, "data": f"train={config.data.train} test={config.data.test}"}]})
    results["seconds"] = round(time.time() - t0, 1)
    write_json_atomic(os.path.join(workdir, "results.json"), results)
    keras.mixed_precision.set_global_policy(previous_policy)
    return results


def _assign(model, state):
    for variable, value in zip(model.trainable_variables, state[0]):
        variable.assign(value)
    for variable, value in zip(model.non_trainable_variables, state[1]):
        variable.assign(value)
    for variable, value in zip(model.optimizer.variables, state[2]):
        variable.assign(value)


__all__ = ["ScheduleClock", "load_arrays", "pretrain_on_device"]
