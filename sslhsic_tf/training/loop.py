"""The pretraining job: config -> data -> model -> fit (checkpointed) -> export -> evaluation.

`pretrain(config, workdir)` is what `python -m sslhsic_tf.pretrain` runs. The run is a stream of
`total_steps` optimizer steps over an endless, seeded input pipeline; Keras' fit "epochs" are
checkpoint intervals (`config.checkpoint_every_steps`), so every checkpoint sits on an interval
boundary and a restarted job resumes exactly there: weights, optimizer states (network,
bandwidth, probe), EMA target, step counter (hence the schedules' position and the per-step
seeds), and data position (the pipeline restarts at that step).

Files in `workdir`:
  config.json           the resolved config (a restart with another config is refused)
  checkpoints/ckpt-N/   atomic checkpoints (training/checkpoint.py)
  train_log.csv         one row per interval (loss, objective parts, tau, lr, probe, kNN)
  tensorboard/          TensorBoard logs
  model.keras           the whole training model; encoder.keras: the encoder alone
  export/<name>/        the encoder as a TF-Hub-style SavedModel (TensorFlow backend)
  results.json          evaluation of the learned and of a random encoder, export path
  training_curves.png, embedding_pca.png
"""

import json
import logging
import math
import os
import time

import keras

from sslhsic_tf.training import callbacks as cb
from sslhsic_tf.training.checkpoint import CheckpointManager, is_chief

log = logging.getLogger("sslhsic_tf")


def _to_dict(config):
    return config.to_dict() if hasattr(config, "to_dict") else dict(config)


def _fingerprint(config):
    """The parts of the config that must not change across a restart."""
    c = _to_dict(config)
    keep = ("method", "method_kwargs", "model", "data", "batch_size", "seed", "optimizer",
            "epochs", "total_steps", "checkpoint_every_steps", "mixed_precision")
    return json.loads(json.dumps({k: c.get(k) for k in keep}, sort_keys=True, default=str))


def _check_workdir(workdir, config):
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, "config.json")
    fp = _fingerprint(config)
    if os.path.exists(path):
        with open(path) as f:
            old = json.load(f).get("fingerprint")
        if old is not None and old != fp:
            changed = sorted(k for k in set(old) | set(fp) if old.get(k) != fp.get(k))
            raise ValueError(
                f"--workdir={workdir} holds a run with another config (differs in {changed}); "
                "use a new --workdir, or restore the original config to resume"
            )
    elif is_chief():
        with open(path, "w") as f:
            json.dump({"fingerprint": fp, "config": _to_dict(config)}, f, indent=1, default=str)


def _sources(config):
    from sslhsic_tf import data

    train = data.from_spec(config.data.train)
    test = data.from_spec(config.data.test) if config.data.get("test") else None
    if train.num_examples < config.batch_size:
        raise ValueError(
            f"the training data has {train.num_examples} images, fewer than one global batch "
            f"(batch_size={config.batch_size})"
        )
    return train, test


def build_model(config, num_classes, total_steps):
    """The encoder and the compiled training model of `config` (call inside the strategy scope)."""
    from sslhsic_tf import methods, models

    encoder = models.resnet(**_to_dict(config.model))
    device_augment = None
    if keras.backend.backend() == "jax":
        device_augment = config.data.views  # tf.data cannot run keras.ops on JAX
    model = methods.create(
        config.method,
        encoder,
        total_steps=total_steps,
        batch_size=config.batch_size,
        num_classes=num_classes,
        seed=config.seed,
        device_augment=device_augment,
        optimizer_config=_to_dict(config.optimizer) or None,
        **_to_dict(config.method_kwargs),
    )
    model.compile(jit_compile=config.get("jit_compile", "auto"))
    return encoder, model


def schedule(config, train):
    """(total_steps, interval): total steps rounded up to whole checkpoint intervals."""
    from sslhsic_tf import data

    per_epoch = data.steps_per_epoch(train, config.batch_size)
    total = config.get("total_steps") or int(math.ceil(config.epochs * per_epoch))
    if total < 1:
        raise ValueError(f"the run has no steps (epochs={config.epochs}, total_steps={total})")
    interval = max(1, min(int(config.checkpoint_every_steps), total))
    fit_epochs = int(math.ceil(total / interval))
    return fit_epochs * interval, interval, per_epoch


def pretrain(config, workdir, *, strategy="default", tpu_address=None, on_nonfinite="stop",
             overwrite=False, evaluate=True, verbose=1):
    """Runs (or resumes) the pretraining job of `config` in `workdir`; returns the results dict."""
    from sslhsic_tf import data, distribute

    t0 = time.time()
    workdir = os.path.abspath(workdir)
    _check_workdir(workdir, config)
    if config.get("mixed_precision"):
        keras.mixed_precision.set_global_policy(config.mixed_precision)
    keras.utils.set_random_seed(config.seed)
    train, test = _sources(config)
    num_classes = train.num_classes if train.num_classes and train.num_classes > 1 else None
    total_steps, interval, per_epoch = schedule(config, train)

    strat = distribute.make_strategy(strategy, tpu_address=tpu_address)
    manager = CheckpointManager(os.path.join(workdir, "checkpoints"),
                                max_to_keep=config.get("keep_checkpoints", 3))
    with strat.scope():
        encoder, model = build_model(config, num_classes, total_steps)
        state = manager.restore(model)
    start_step = 0 if state is None else int(state["step"])
    if start_step >= total_steps:
        log.info("the run in %s is complete (step %d of %d)", workdir, start_step, total_steps)
    elif start_step:
        log.info("resuming from the checkpoint of step %d of %d", start_step, total_steps)

    pixel_stage = "device" if keras.backend.backend() == "jax" else "pipeline"
    if keras.backend.backend() == "tensorflow":
        dataset = data.distribute_pretrain_dataset(
            strat, train, config.data.views, config.batch_size, config.seed,
            start_step=start_step, pixel_stage=pixel_stage,
        )
    else:
        dataset = data.pretrain_dataset(train, config.data.views, config.batch_size, config.seed,
                                        start_step=start_step, pixel_stage=pixel_stage)

    eval_train = data.eval_dataset(train, config.data.eval, batch_size=256)
    eval_test = data.eval_dataset(test, config.data.eval, batch_size=256) if test else None
    callbacks = [
        cb.NonFiniteGuard(on_nonfinite, manager),
        cb.Checkpointing(manager, total_steps=total_steps),
    ]
    if config.eval.get("knn_every_steps") and eval_test is not None and num_classes:
        every = max(1, config.eval.knn_every_steps // interval)
        callbacks.append(cb.KnnMonitor(eval_train, eval_test, every=every))
    callbacks += [
        keras.callbacks.CSVLogger(os.path.join(workdir, "train_log.csv"), append=True),
        keras.callbacks.TensorBoard(os.path.join(workdir, "tensorboard"), update_freq="epoch"),
    ]
    history = None
    if start_step < total_steps:
        history = model.fit(
            dataset,
            epochs=total_steps // interval,
            initial_epoch=start_step // interval,
            steps_per_epoch=interval,
            callbacks=callbacks,
            verbose=verbose,
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
        "train_seconds": round(train_seconds, 1),
        "backend": keras.backend.backend(),
        "strategy": strategy,
        "num_replicas": strat.num_replicas_in_sync,
    }
    if history is not None and history.history:
        results["final_logs"] = {k: float(v[-1]) for k, v in history.history.items()}
    if not is_chief():
        return results

    from sslhsic_tf import serving

    final = model.export_encoder()
    serving.save_keras(model, os.path.join(workdir, "model.keras"), overwrite=True)
    serving.save_keras(final, os.path.join(workdir, "encoder.keras"), overwrite=True)
    if keras.backend.backend() == "tensorflow":
        name = config.export.get("name") or f"{config.method}_{final.name}"
        export_path = os.path.join(workdir, "export", name)
        serving.export_hub(
            final, export_path, image_size=config.data.image_size, overwrite=overwrite,
            metadata={"method": config.method, "total_steps": total_steps,
                      "train_data": config.data.train},
        )
        results["export_path"] = export_path
    else:
        results["export_path"] = os.path.join(workdir, "encoder.keras")

    if evaluate and eval_test is not None and num_classes:
        results.update(_evaluate(config, final, eval_train, eval_test, num_classes, workdir))
    _plots(workdir, final, eval_test)
    results["seconds"] = round(time.time() - t0, 1)
    with open(os.path.join(workdir, "results.json"), "w") as f:
        json.dump(results, f, indent=1, default=str)
    return results


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


def _plots(workdir, encoder, test):
    from sslhsic_tf import evaluation
    from sslhsic_tf.training import plots

    log_path = os.path.join(workdir, "train_log.csv")
    try:
        if os.path.exists(log_path):
            plots.plot_training_curves(log_path, os.path.join(workdir, "training_curves.png"))
        if test is not None:
            features, labels = evaluation.extract_features(encoder, test)
            plots.plot_embedding(features, labels, os.path.join(workdir, "embedding_pca.png"),
                                 method="pca", max_points=2000)
    except Exception as e:  # plots must never lose a finished run
        log.warning("plotting failed: %s", e)
