"""The pretraining job: config -> data -> model -> fit (checkpointed) -> export -> evaluation.

`pretrain(config, workdir)` is what `python -m sslhsic_tf.pretrain` runs. The run is a stream of
`total_steps` optimizer steps over an endless, seeded input pipeline; Keras' fit "epochs" are
checkpoint intervals (`config.checkpoint_every_steps`), so every checkpoint sits on an interval
boundary and a restarted job resumes exactly there: weights, optimizer states (network,
bandwidth, probe), EMA target, step counter (hence the schedules' position and the per-step
seeds), and data position (the pipeline restarts at batch `step + data_offset`).

Faults (WORKSPACE.md, "Errors and faults"):
- Killed at any point (SIGKILL, preemption): the next start with the same --workdir removes
  unfinished writes and resumes from the newest complete checkpoint; `train_log.csv` is cut back
  to the intervals that checkpoint covers, so no row is lost or repeated.
- Divergence (a non-finite logged value): `on_nonfinite="stop"` raises FloatingPointError with
  the last good checkpoint intact; "rollback" restores the newest checkpoint and goes on after
  the batch that diverged, skipping the batches in between (`data_offset`, recorded in the
  checkpoints and in results.json), at most 3 times (`fit_with_policy`).
- Bad config or data: ValueError/TypeError naming `--config.KEY` before anything is built
  (`config_checks.check_config`, `_sources`, `_check_labels`, `_check_replicas`); an existing
  export target without `overwrite` is refused before training.

Files in `workdir`:
  config.json           the resolved config (a restart with another config is refused once
                        checkpoints exist)
  checkpoints/ckpt-N/   atomic checkpoints (training/checkpoint.py)
  train_log.csv         one row per interval (loss, objective parts, tau, lr, probe, kNN)
  tensorboard/          TensorBoard logs
  model.keras           the whole training model; encoder.keras: the encoder alone
  export/<name>/        the encoder as a TF-Hub-style SavedModel (TensorFlow backend)
  results.json          evaluation of the learned and of a random encoder, export path
  training_curves.png, embedding_pca.png
"""

import contextlib
import json
import logging
import math
import os
import pickle
import shutil
import tarfile
import time
import zipfile
import zlib

import keras

from sslhsic_tf.training import callbacks as cb
from sslhsic_tf.training import schema
from sslhsic_tf.training.checkpoint import CheckpointManager, is_chief, write_json_atomic
from sslhsic_tf.training.config_checks import check_config, precision_options, resolve_sources
from sslhsic_tf.utils import backend

log = logging.getLogger("sslhsic_tf")

#: What reading a damaged file raises besides ValueError/TypeError (truncated archives, bad zips).
_READ_ERRORS = (OSError, EOFError, tarfile.TarError, zipfile.BadZipFile, zlib.error,
                pickle.UnpicklingError)


def _to_dict(config):
    return config.to_dict() if hasattr(config, "to_dict") else dict(config)


def _fingerprint(config):
    """The parts of the config that must not change across a restart (the data as resolved
    sources: `data.dataset` only names them)."""
    c = _to_dict(config)
    keep = ("method", "method_kwargs", "model", "data", "batch_size", "seed", "optimizer",
            "epochs", "total_steps", "checkpoint_every_steps", "mixed_precision")
    return _resolved_data(json.loads(json.dumps({k: c.get(k) for k in keep}, sort_keys=True,
                                                default=str)))


def _resolved_data(fingerprint):
    """`fingerprint` with data.train / data.test filled from data.dataset, and without the
    latter (a run recorded before the demo default moved into data.dataset still matches)."""
    from sslhsic_tf.training.config_checks import dataset_split

    data = dict(fingerprint.get("data") or {})
    dataset = data.pop("dataset", "")
    for split in ("train", "test"):
        if not data.get(split) and dataset:
            data[split] = dataset_split(dataset, split)
    return {**fingerprint, "data": data}


def _effective_optimizer(fingerprint):
    """`fingerprint` with its optimizer block as the run uses it: the method's defaults under
    the keys left unset (None), without the settings its optimizer does not read, so that a run
    recorded with a preset's unset keys resumes when the command line gives those defaults
    explicitly (after a preset changed them), and a change no optimizer step sees (the trust
    coefficient of an SGD run) does not stop a resume."""
    from sslhsic_tf import methods
    from sslhsic_tf.optim.factory import UNREAD_SETTINGS, resolved_exclusion

    try:
        defaults = methods.get(fingerprint.get("method")).optimizer_defaults
    except ValueError:  # an unknown method: compared as recorded
        return fingerprint
    given = {k: v for k, v in (fingerprint.get("optimizer") or {}).items() if v is not None}
    effective = {**defaults, **given}
    effective["exclude_norm_and_bias"] = resolved_exclusion(effective)
    for key in UNREAD_SETTINGS.get(effective.get("name"), ()):  # no effect on the run
        effective.pop(key, None)
    return {**fingerprint, "optimizer": effective}


def _differences(old, new, prefix=""):
    """[(dotted key, old value, new value)] where two fingerprints differ, method first."""
    out = []
    for key in sorted(set(old) | set(new), key=lambda k: (k != "method", k)):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{key}.")
        else:
            out.append((f"{prefix}{key}", a, b))
    return out


def _with_new_defaults(old, defaults):
    """`old` with the keys it lacks (added to the config since that run) at their defaults, so
    that a run from an older version resumes when the new keys keep their default values."""
    out = dict(old)
    for key, value in defaults.items():
        if key not in out:
            out[key] = value
        elif isinstance(out[key], dict) and isinstance(value, dict):
            out[key] = _with_new_defaults(out[key], value)
    return out


def _check_workdir(workdir, config, manager):
    """Refuses a --workdir whose checkpoints come from another config; records this config.

    The config is compared only when checkpoints exist: a run that failed before its first
    checkpoint can be restarted with a corrected config.
    """
    path = os.path.join(workdir, "config.json")
    fp = _fingerprint(config)
    if manager.steps() and os.path.exists(path):
        try:
            with open(path) as f:
                old = json.load(f).get("fingerprint")
        except (OSError, ValueError, AttributeError) as e:
            raise ValueError(
                f"{path} cannot be read ({e}); it records the config of the checkpoints in "
                f"{manager.directory}: restore it, or use a new --workdir"
            ) from None
        if old is not None:
            defaults = schema.base()
            defaults.method_kwargs = schema.method_kwargs(config.method)
            old = _effective_optimizer(
                _resolved_data(_with_new_defaults(old, _fingerprint(defaults))))
        fp = _effective_optimizer(fp)
        if old is not None and old != fp:
            changed = sorted(k for k in set(old) | set(fp) if old.get(k) != fp.get(k))
            details = "; ".join(f"{key}: {a!r} there, {b!r} here"
                                for key, a, b in _differences(old, fp)[:4])
            raise ValueError(
                f"--workdir={workdir} holds a run with another config (differs in {changed}: "
                f"{details}); use a new --workdir, or pass the run's values to resume it"
            )
        return
    if is_chief():
        write_json_atomic(path, {"fingerprint": fp, "config": _to_dict(config)})


def _remove_stale_temporaries(workdir):
    """Deletes what killed writes left behind (`.NAME.tmp-*` beside model.keras and exports,
    `NAME.tmp-PID` of the atomic JSON/CSV rewrites)."""
    if not is_chief():
        return
    for folder in (workdir, os.path.join(workdir, "export")):
        if not os.path.isdir(folder):
            continue
        for name in os.listdir(folder):
            if name.startswith(".") and (".tmp-" in name or ".old-" in name):
                path = os.path.join(folder, name)
                if os.path.isdir(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    os.remove(path)
                log.warning("removed %s, left by an interrupted write", path)
    for name in os.listdir(workdir):  # write_json_atomic / truncate_train_log temporaries
        if name.startswith(("config.json.tmp-", "results.json.tmp-", "train_log.csv.tmp-",
                            KNN_AT_START + ".partial")):
            os.remove(os.path.join(workdir, name))


def load_source(spec, flag):
    """`data.from_spec(spec)`; every failure is a ValueError/TypeError naming `flag=spec`
    (e.g. `--config.data.train=...`), damaged files included."""
    from sslhsic_tf import data

    try:
        return data.from_spec(spec)
    except data.TfdsUnavailableError as e:
        raise ValueError(
            f"{flag}={spec}: {e}; offline, pass a local copy with --config.data.dataset="
            "cifar10_archive:PATH (or folder:DIR, ...), or prepare it where there is internet "
            "(`tfds build NAME --data_dir=DIR`) and use tfds:NAME:SPLIT:DIR"
        ) from None
    except ValueError as e:
        raise ValueError(f"{flag}={spec}: {e}") from e
    except TypeError as e:
        raise TypeError(f"{flag}={spec}: {e}") from e
    except _READ_ERRORS as e:
        raise ValueError(
            f"{flag}={spec}: cannot read the data ({type(e).__name__}: {e}); the file is "
            "damaged or not in the expected format"
        ) from e


def _sources(config, flags):
    train = load_source(config.data.train, flags["train"])
    test = load_source(config.data.test, flags["test"]) if config.data.get("test") else None
    if train.num_examples < config.batch_size:
        raise ValueError(
            f"--config.data.train={config.data.train} has {train.num_examples} images, fewer "
            f"than one global batch (--config.batch_size={config.batch_size}); lower the batch "
            "size or use more data"
        )
    return train, test


def _check_labels(train, test, num_classes):
    """Labels the probe and the evaluation will see must lie in [0, num_classes) (or be -1)."""
    if num_classes is None:
        return
    for key, source in (("data.train", train), ("data.test", test)):
        if source is None:
            continue
        if source.num_classes is not None and source.num_classes > num_classes:
            raise ValueError(
                f"--config.{key}={source.name} has {source.num_classes} classes, the training "
                f"data {num_classes}: its labels would be out of range of the online probe and "
                "the evaluation; use test data with the training data's classes"
            )
        if source.labels is not None and len(source.labels) and source.labels.max() >= num_classes:
            raise ValueError(
                f"--config.{key}={source.name} has labels up to {int(source.labels.max())}, "
                f"out of range for num_classes={num_classes} (labels must be < {num_classes}, "
                "or -1 for unlabelled)"
            )


def _check_replicas(batch_size, strat, strategy):
    replicas = int(strat.num_replicas_in_sync)
    if batch_size % replicas:
        lower = batch_size - batch_size % replicas
        raise ValueError(
            f"--config.batch_size={batch_size} is not divisible by the {replicas} replicas of "
            f"--strategy={strategy}; use a multiple of {replicas} (e.g. {lower or replicas})"
        )


def _check_export(workdir, name, start_step, total_steps, overwrite):
    """Refuses an existing export target before training (unless `overwrite`); returns True when
    it is the finished run's own export (kept as it is). `total_steps` None: not known yet."""
    path = os.path.join(workdir, "export", name)
    if not os.path.exists(path) or overwrite:
        return False
    if total_steps is not None and start_step >= total_steps:
        return True
    if total_steps is None and start_step:
        return False  # a resumed run: decided once total_steps is known
    raise FileExistsError(
        f"the export target {path} exists; pass --overwrite to replace it when this run ends, "
        "or set another --config.export.name"
    )


def build_model(config, num_classes, total_steps):
    """The encoder and the compiled training model of `config` (call inside the strategy scope)."""
    from sslhsic_tf import methods, models

    encoder = models.resnet(**_to_dict(config.model))
    device_augment = None
    if backend.pixel_stage() == "device":  # tf.data cannot run keras.ops on JAX
        from sslhsic_tf.data import device

        device_augment = device.DeviceAugmentation(config.data.views)
    model = methods.create(
        config.method,
        encoder,
        total_steps=total_steps,
        batch_size=config.batch_size,
        num_classes=num_classes,
        seed=config.seed,
        device_augment=device_augment,
        optimizer_config={k: v for k, v in _to_dict(config.optimizer).items() if v is not None},
        **_to_dict(config.method_kwargs),
    )
    model.compile(jit_compile=precision_options(config)[1])
    return encoder, model


def schedule(config, train):
    """(total_steps, interval, steps per epoch): total steps rounded up to whole checkpoint
    intervals."""
    from sslhsic_tf import data

    per_epoch = data.steps_per_epoch(train, config.batch_size)
    total = config.get("total_steps") or int(math.ceil(config.epochs * per_epoch))
    if total < 1:
        raise ValueError(f"the run has no steps (--config.epochs={config.epochs}, "
                         f"--config.total_steps={total}); set one of them higher")
    interval = max(1, min(int(config.checkpoint_every_steps), total))
    fit_epochs = int(math.ceil(total / interval))
    return fit_epochs * interval, interval, per_epoch


def stop_step(config, total_steps, interval, per_epoch):
    """The step this process trains to: `total_steps`, or with `config.stop_after_epochs` the
    first checkpoint boundary at or after that many epochs (never past the end)."""
    stop = float(config.get("stop_after_epochs", 0.0) or 0.0)
    if not stop:
        return total_steps
    boundary = int(math.ceil(math.ceil(stop * per_epoch) / interval)) * interval
    return min(total_steps, max(interval, boundary))


def truncate_train_log(path, first_epoch):
    """Cuts `train_log.csv` back to the rows of fit epochs < `first_epoch` (and whole lines).

    Called before each `fit()`: rows of intervals that the restored checkpoint does not cover
    (written by a killed or rolled-back run) would otherwise be repeated.
    """
    if not os.path.isfile(path):
        return
    with open(path) as f:
        lines = f.read().splitlines(keepends=True)
    keep = []
    for i, line in enumerate(lines):
        if not line.endswith("\n"):
            break  # a partial line from a killed write
        if i == 0:
            keep.append(line)
            continue
        try:
            epoch = int(line.split(",", 1)[0])
        except ValueError:
            continue
        if epoch < first_epoch:
            keep.append(line)
    if keep != lines:
        if len(keep) <= 1:
            os.remove(path)  # header only: CSVLogger writes a new one
        else:
            tmp = f"{path}.tmp-{os.getpid()}"
            with open(tmp, "w") as f:
                f.writelines(keep)
            os.replace(tmp, path)


def fit_with_policy(model, make_dataset, *, manager, guard, checkpointing, callbacks,
                    start_step, total_steps, interval, data_offset=0, log_path=None, verbose=1,
                    scope=None):
    """Trains from `start_step` to `total_steps` in fit epochs of `interval` steps.

    `make_dataset(position)` returns the input starting at global batch `position`. When
    `guard` (a `NonFiniteGuard`, policy "rollback") stops a fit at a divergence, the newest
    checkpoint is restored and training goes on from it with the data moved past the batch that
    diverged: `data_offset` grows by the number of batches skipped. Returns
    `(history, data_offset)`. A "stop" divergence raises FloatingPointError from `fit()`.
    """
    history = None
    while start_step < total_steps:
        if log_path is not None:
            truncate_train_log(log_path, start_step // interval)
        checkpointing.state["data_offset"] = data_offset
        history = model.fit(
            make_dataset(start_step + data_offset),
            epochs=total_steps // interval,
            initial_epoch=start_step // interval,
            steps_per_epoch=interval,
            callbacks=callbacks,
            verbose=verbose,
        )
        if guard.rollback_to is None:
            break
        diverged = guard.diverged_at
        with scope() if scope is not None else contextlib.nullcontext():
            state = manager.restore(model)
        restored = int(state["step"])
        # Step s reads global batch s - 1 + data_offset; go on with the batch after the one
        # that diverged (step `diverged`).
        data_offset = diverged + data_offset - restored
        log.warning(
            "rolled back to the checkpoint of step %d; training goes on with global batch %d "
            "(%d batches skipped in this run so far)", restored, restored + data_offset,
            data_offset,
        )
        start_step = restored
    return history, data_offset


def pretrain(config, workdir, *, strategy="default", tpu_address=None, devices=None,
             on_nonfinite="stop", overwrite=False, evaluate=True, verbose=1, command=None):
    """Runs (or resumes) the pretraining job of `config` in `workdir`; returns the results dict.

    Args:
      config: a config (`training/schema.py`); checked up front (`config_checks.check_config`).
      workdir: the run folder; an existing one is resumed from its newest checkpoint.
      strategy, tpu_address, devices: `distribute.make_strategy` arguments.
      on_nonfinite: the divergence policy, "stop" or "rollback" (`callbacks.NonFiniteGuard`).
      overwrite: replace an existing export folder (otherwise refused before training).
      evaluate: run the evaluation protocols (and the random-encoder baseline) at the end.
      command: the command line that ran the job, recorded in results.json (the zoo keeps it).
    """
    if config.get("data", {}).get("on_device"):
        if strategy != "default":
            raise ValueError(f"--strategy={strategy}: --config.data.on_device=True trains on one "
                             "device; use --strategy=default")
        from sslhsic_tf.training import device_loop

        return device_loop.pretrain_on_device(config, workdir, command=command,
                                              evaluate=evaluate)
    previous_policy = keras.mixed_precision.global_policy()
    try:
        return _pretrain(config, workdir, strategy=strategy, tpu_address=tpu_address,
                         devices=devices, on_nonfinite=on_nonfinite, overwrite=overwrite,
                         evaluate=evaluate, verbose=verbose, command=command)
    finally:  # the run's policy does not leak into the caller's later models
        keras.mixed_precision.set_global_policy(previous_policy)


def _pretrain(config, workdir, *, strategy, tpu_address, devices, on_nonfinite, overwrite,
              evaluate, verbose, command):
    from sslhsic_tf import data, distribute

    t0 = time.time()
    if on_nonfinite not in cb.NONFINITE_POLICIES:
        raise ValueError(f"--on_nonfinite must be one of {cb.NONFINITE_POLICIES}; got "
                         f"{on_nonfinite!r}")
    check_config(config)
    source_flags = resolve_sources(config)
    workdir = os.path.abspath(workdir)
    if os.path.exists(workdir) and not os.path.isdir(workdir):
        raise FileExistsError(f"--workdir={workdir} is a file; give a folder")
    os.makedirs(workdir, exist_ok=True)
    manager = CheckpointManager(os.path.join(workdir, "checkpoints"),
                                max_to_keep=config.get("keep_checkpoints", 3))
    _check_workdir(workdir, config, manager)
    _remove_stale_temporaries(workdir)
    saved_model = config.export.get("saved_model", True)
    if saved_model and config.export.get("name"):  # else checked once the encoder is built
        _check_export(workdir, config.export.name, manager.latest_step() or 0,
                      config.get("total_steps") or None, overwrite)
    policy, jit_compile = precision_options(config)
    if policy:
        keras.mixed_precision.set_global_policy(policy)
    policy = keras.mixed_precision.global_policy().name
    log.info("precision: %s, jit_compile=%s (config: mixed_precision=%r, jit_compile=%r)",
             policy, jit_compile, config.get("mixed_precision", ""), config.get("jit_compile"))
    keras.utils.set_random_seed(config.seed)
    train, test = _sources(config, source_flags)
    num_classes = train.num_classes if train.num_classes and train.num_classes > 1 else None
    _check_labels(train, test, num_classes)
    total_steps, interval, per_epoch = schedule(config, train)
    end_step = stop_step(config, total_steps, interval, per_epoch)

    strat = distribute.make_strategy(strategy, tpu_address=tpu_address, devices=devices)
    _check_replicas(config.batch_size, strat, strategy)
    with strat.scope():
        encoder, model = build_model(config, num_classes, total_steps)
        state = manager.restore(model)
    start_step = 0 if state is None else int(state["step"])
    data_offset = 0 if state is None else int(state.get("data_offset", 0))
    resumed_from = start_step
    if start_step >= total_steps:
        log.info("the run in %s is complete (step %d of %d)", workdir, start_step, total_steps)
    elif start_step:
        log.info("resuming from the checkpoint of step %d of %d", start_step, total_steps)
    if end_step < total_steps:
        log.info("stopping at step %d of the %d-step schedule (--config.stop_after_epochs=%g)",
                 end_step, total_steps, config.stop_after_epochs)

    export_path, keep_export = None, False
    # A run stopped before the end of its schedule (stop_after_epochs) keeps encoder.keras and
    # model.keras; the SavedModel is exported once the schedule is complete.
    if (saved_model and keras.backend.backend() == "tensorflow" and is_chief()
            and end_step >= total_steps):
        name = config.export.get("name") or f"{config.method}_{encoder.name}"
        export_path = os.path.join(workdir, "export", name)
        keep_export = _check_export(workdir, name, start_step, end_step, overwrite)


    def make_dataset(position):
        if keras.backend.backend() == "tensorflow":
            return data.distribute_pretrain_dataset(
                strat, train, config.data.views, config.batch_size, config.seed,
                start_step=position, pixel_stage=backend.pixel_stage(),
            )
        return data.pretrain_dataset(train, config.data.views, config.batch_size, config.seed,
                                     start_step=position, pixel_stage=backend.pixel_stage())

    eval_train = data.eval_dataset(train, config.data.eval, batch_size=256)
    eval_test = data.eval_dataset(test, config.data.eval, batch_size=256) if test else None
    guard = cb.NonFiniteGuard(on_nonfinite, manager)
    process = {"from_step": start_step, "machine": backend.machine(),
               "backend": keras.backend.backend(), "policy": policy, "jit_compile": jit_compile,
               "replicas": strat.num_replicas_in_sync}
    checkpointing = cb.Checkpointing(
        manager, guard, prior_cpu_seconds=(state or {}).get("train_cpu_seconds", 0.0),
        prior_wall_seconds=(state or {}).get("train_wall_seconds", 0.0),
        prior_segments=_segments_before(state, process), process=process,
        total_steps=total_steps, data_offset=data_offset)
    collapse = cb.CollapseWarning(patience=int(config.get("collapse_patience", 100)))
    callbacks = [guard, collapse]
    monitor_queries = None
    fault_step = os.environ.get(cb.FAULT_NONFINITE_ENV)
    if fault_step:
        callbacks.append(cb.InjectNonFinite(int(fault_step)))
    if config.eval.get("knn_every_steps") and eval_test is not None and num_classes:
        every = max(1, config.eval.knn_every_steps // interval)
        queries, monitor_queries = _monitor_subset(test, config)
        start_path = (os.path.join(workdir, KNN_AT_START)
                      if config.eval.get("knn_at_start") and start_step == 0 else None)
        callbacks.append(cb.KnnMonitor(eval_train, queries, every=every, start_path=start_path))
    log_path = os.path.join(workdir, "train_log.csv")
    callbacks += [
        cb.TrainLog(log_path, extra_keys=("knn_top1",) if monitor_queries else ()),
        keras.callbacks.TensorBoard(os.path.join(workdir, "tensorboard"), update_freq="epoch"),
        checkpointing,  # last: an interval counts as done once everything else has run
    ]
    if on_nonfinite == "rollback" and state is None and total_steps > 0:
        # The rollback target for a divergence in the first interval: the initial weights.
        manager.save(model, 0, fit_epoch=0, total_steps=total_steps, data_offset=0)
    history, data_offset = fit_with_policy(
        model, make_dataset, manager=manager, guard=guard, checkpointing=checkpointing,
        callbacks=callbacks, start_step=start_step, total_steps=end_step, interval=interval,
        data_offset=data_offset, log_path=log_path, verbose=verbose, scope=strat.scope,
    )
    train_seconds = time.time() - t0

    results = {
        "method": config.method,
        "architecture": _to_dict(config.model),
        "data": {"train": config.data.train, "test": config.data.get("test"),
                 "views": config.data.views},
        "batch_size": config.batch_size,
        "total_steps": total_steps,
        "epochs": total_steps / per_epoch,
        "trained_steps": end_step,
        "trained_epochs": round(end_step / per_epoch, 3),
        "train_seconds": round(train_seconds, 1),
        # every process that trained this run (resumes included), from its checkpoints
        **checkpointing.cost(),
        "backend": keras.backend.backend(),
        "precision": {"policy": policy, "jit_compile": jit_compile},
        "machine": backend.machine(),
        "command": command,
        "strategy": strategy,
        "num_replicas": strat.num_replicas_in_sync,
        "resumed_from_step": resumed_from,
        "rollbacks": guard.rollbacks,
        "skipped_batches": data_offset,
        "collapse_warnings": collapse.warnings,
    }
    if history is not None and history.history:
        results["final_logs"] = {k: float(v[-1]) for k, v in history.history.items()}
    knn_curve = _knn_curve(os.path.join(workdir, "train_log.csv"), interval, per_epoch)
    if knn_curve:
        results["knn_curve"] = {
            "protocol": "kNN monitor: cosine, k=200, T=0.07, the train split as memory bank, "
                        f"{monitor_queries or 'the test split'} as queries",
            "points": knn_curve}
    if not is_chief():
        return results

    from sslhsic_tf import serving

    final = model.export_encoder()
    serving.save_keras(model, os.path.join(workdir, "model.keras"), overwrite=True)
    serving.save_keras(final, os.path.join(workdir, "encoder.keras"), overwrite=True)
    if export_path is not None:
        if keep_export:
            log.info("kept the existing export %s of this finished run", export_path)
        else:
            serving.export_hub(
                final, export_path, image_size=config.data.image_size, overwrite=overwrite,
                metadata={"method": config.method, "total_steps": total_steps,
                          "train_data": data.describe_spec(config.data.train)},
            )
        results["export_path"] = export_path
    else:
        results["export_path"] = os.path.join(workdir, "encoder.keras")

    if evaluate and eval_test is not None and num_classes:
        results.update(_evaluate(config, final, eval_train, eval_test, num_classes, workdir))
    _plots(workdir, final, eval_test, class_names=train.class_names, interval=interval,
           per_epoch=per_epoch, knn_curve=results.get("knn_curve"),
           final_knn=results.get("knn_top1"))
    results["seconds"] = round(time.time() - t0, 1)
    write_json_atomic(os.path.join(workdir, "results.json"), results)
    return results


MONITOR_TEST_IMAGES = 5000
#: The kNN monitor's point for the initial weights (eval.knn_at_start), beside train_log.csv.
KNN_AT_START = "knn_at_start.json"


def _segments_before(state, process):
    """The processes that trained the run up to its checkpoint `state` (state.json's `segments`;
    one row without machine or policy for checkpoints written before they were recorded). Warns
    when this `process` trains under another policy or backend than the one before it, and logs
    a change of CPU."""
    if not state or not int(state.get("step", 0)):
        return []
    segments = [dict(s) for s in state.get("segments") or []]
    if not segments:
        segments = [{"from_step": 0, "to_step": int(state["step"]), "machine": None,
                     "policy": None, "cpu_seconds": state.get("train_cpu_seconds"),
                     "wall_seconds": state.get("train_wall_seconds")}]
    last = segments[-1]
    for key, name in (("policy", "precision policy"), ("backend", "backend")):
        if last.get(key) and last[key] != process[key]:
            log.warning("this process trains under the %s %s; steps %s-%s of the run trained "
                        "under %s (results.json's `segments` records both)", name,
                        process[key], last["from_step"], last["to_step"], last[key])
    if (last.get("machine") or {}).get("cpu") not in (None, process["machine"]["cpu"]):
        log.info("resuming on %s; steps %s-%s trained on %s", process["machine"]["cpu"],
                 last["from_step"], last["to_step"], last["machine"]["cpu"])
    return segments


def _monitor_subset(test, config):
    """(dataset, description) of the kNN monitor's queries: the first 5,000 test images of an
    in-memory split (CIFAR-10's test order mixes the classes), else the whole test split."""
    from sslhsic_tf import data

    what = f"the {test.num_examples} test images"
    if test.images is not None and test.num_examples > MONITOR_TEST_IMAGES:
        test = data.from_arrays(test.images[:MONITOR_TEST_IMAGES],
                                test.labels[:MONITOR_TEST_IMAGES], num_classes=test.num_classes)
        what = f"the first {MONITOR_TEST_IMAGES} test images (index order)"
    return data.eval_dataset(test, config.data.eval, batch_size=256), what


def _knn_curve(log_path, interval, per_epoch):
    """[{"step", "epoch", "knn_top1"}] from the knn_top1 column of train_log.csv (every resumed
    segment included), after the initial weights' point where the run measured it
    (eval.knn_at_start); [] without either."""
    import csv

    points = []
    start = os.path.join(os.path.dirname(log_path), KNN_AT_START)
    if os.path.exists(start):
        with open(start) as f:
            points.append({"step": 0, "epoch": 0.0, "knn_top1": float(json.load(f)["knn_top1"])})
    if not os.path.exists(log_path):
        return points
    with open(log_path, newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        value = row.get("knn_top1")
        if value not in (None, "", "nan", "NA"):
            step = (int(row["epoch"]) + 1) * interval
            points.append({"step": step, "epoch": round(step / per_epoch, 3),
                           "knn_top1": float(value)})
    return points


def _evaluate(config, encoder, train, test, num_classes, workdir):
    """kNN and L-BFGS linear probe of the learned encoder and of a random one of the same shape."""
    from sslhsic_tf import evaluation, models

    protocols = tuple(config.eval.protocols)
    out = {}
    report = evaluation.evaluate_encoder(
        encoder, train, test, protocols=protocols, num_classes=num_classes,
        results_path=os.path.join(workdir, "evaluation.json"), data_name=config.data.train,
    )
    out.update(_headline(report, ""))
    out["evaluation"] = report["results"]
    if config.eval.get("baseline_random", True):
        keras.utils.set_random_seed(config.seed + 1)
        random_encoder = models.resnet(**_to_dict(config.model))
        base = evaluation.evaluate_encoder(
            random_encoder, train, test, protocols=protocols, num_classes=num_classes,
            data_name=config.data.train,
        )
        out.update(_headline(base, "baseline_random_"))
    return out


def _headline(report, prefix):
    """knn_top1 (k = 200, else the largest k), linear_top1 (L-BFGS) from an evaluation report."""
    out = {}
    knn = [r for r in report["results"] if r["protocol"] == "knn"]
    if knn:
        best = max(knn, key=lambda r: (r["k"] == 200, r["k"]))
        out[f"{prefix}knn_top1"] = best["top1"]
        out[f"{prefix}knn_k"] = best["k"]
    linear = [r for r in report["results"] if r["protocol"].startswith("linear")]
    if linear:
        out[f"{prefix}linear_top1"] = linear[0]["top1"]
        out[f"{prefix}linear_protocol"] = linear[0]["protocol"]
    return out


def _plots(workdir, encoder, test, class_names=None, interval=None, per_epoch=None,
           knn_curve=None, final_knn=None):
    from sslhsic_tf import evaluation
    from sslhsic_tf.training import plots

    log_path = os.path.join(workdir, "train_log.csv")
    try:
        if os.path.exists(log_path):
            plots.plot_training_curves(
                log_path, os.path.join(workdir, "training_curves.png"),
                steps_per_row=interval, steps_per_epoch=per_epoch, final_knn=final_knn)
        if knn_curve:
            plots.plot_knn_curve(knn_curve["points"], os.path.join(workdir, "knn_curve.png"),
                                 title=knn_curve["protocol"])
        if test is not None:
            features, labels = evaluation.extract_features(encoder, test)
            plots.plot_embedding(features, labels, os.path.join(workdir, "embedding_pca.png"),
                                 method="pca", max_points=2000, class_names=class_names)
    except Exception as e:  # plots must never lose a finished run
        log.warning("plotting failed: %s", e)
