"""The JAX side of tests/jax_backend/test_train_step.py, run in one fresh process.

`main(folder)` reads what the TensorFlow side wrote into `folder` (initial weights per method,
pipeline batches), trains under `KERAS_BACKEND=jax` and writes the results there as `.npz` files
(weight lists in `model.weights` order) and `.keras` files; it returns a JSON-ready dict of
checks and logs. The process must see two devices
(`XLA_FLAGS=--xla_force_host_platform_device_count=2` on a CPU-only machine) for the data-parallel
run, which comes last because `keras.distribution.set_distribution` is global.
"""

import os

import jax
import keras
import numpy as np

from sslhsic_tf import distribute, serving
from sslhsic_tf.methods import jax_step
from sslhsic_tf.utils import random as rng
from tests.jax_backend import cases


def _logs(history):
    return {k: float(v[-1]) for k, v in history.history.items()}


def _train(name, init, dataset, **overrides):
    model = cases.make_model(name, **overrides)
    model.set_weights(init)
    model.compile()
    history = model.fit(dataset, epochs=1, verbose=0)
    return model, _logs(history)


def _methods(folder, out):
    """Item 1: two steps of every method on the same batch and initial weights."""
    for name in cases.METHODS:
        init = cases.load_list(os.path.join(folder, f"init_{name}.npz"))
        model, logs = _train(name, init, cases.repeated(cases.batch(), cases.STEPS))
        cases.save_list(os.path.join(folder, f"jax_{name}.npz"), model.get_weights())
        out["logs"][name] = logs
        out["iterations"][name] = int(model.optimizer.iterations.numpy())
        if name == "ssl_hsic":
            _save_and_continue(folder, model, out)


def _save_and_continue(folder, model, out):
    """Item 3: the trained model and its encoder as .keras files, the encoder's outputs, and one
    more step (what TensorFlow must reproduce from the saved model)."""
    serving.save_keras(model, os.path.join(folder, "jax_model.keras"))
    serving.save_keras(model.export_encoder(), os.path.join(folder, "jax_encoder.keras"))
    features = model.export_encoder()(cases.eval_images(), training=False)
    np.save(os.path.join(folder, "jax_features.npy"), np.asarray(features))
    model.fit(cases.repeated(cases.batch(), 1), epochs=1, verbose=0)
    cases.save_list(os.path.join(folder, "jax_ssl_hsic_step3.npz"), model.get_weights())


def _device_augment(folder, out):
    """Item 4: pixel augmentation inside the step, from the step seed."""
    init = cases.load_list(os.path.join(folder, "init_augment.npz"))
    name, overrides = cases.AUGMENT_METHOD, cases.AUGMENT_OVERRIDES
    with np.load(os.path.join(folder, "pipeline.npz")) as d:
        batches = [{"views": (d[f"b{k}_v0"], d[f"b{k}_v1"]), "label": d[f"b{k}_label"]}
                   for k in range(2)]
    model, logs = _train(name, init, cases.repeated(batches), device_augment="cifar10",
                         **overrides)
    cases.save_list(os.path.join(folder, "jax_augment_in_step.npz"), model.get_weights())
    out["augment_logs"] = logs

    @jax.jit
    def augment(views, step):
        return model.prepare_step(views, rng.stateless_seed(model.seed, step))[0]

    pre = [augment(b["views"], k) for k, b in enumerate(batches)]
    same_image = tuple(np.repeat(v[:1], cases.BATCH, axis=0) for v in batches[0]["views"])
    again = augment(batches[0]["views"], 0)
    np.savez(os.path.join(folder, "jax_augment.npz"),
             step0_v0=pre[0][0], step0_v1=pre[0][1], step1_v0=pre[1][0],
             again_v0=again[0], same_image_v0=augment(same_image, 0)[0],
             same_image_step1_v0=augment(same_image, 1)[0])
    # The same step on views augmented beforehand, by a model without device augmentation.
    pre_batches = [{"views": tuple(np.asarray(v) for v in p), "label": b["label"]}
                   for p, b in zip(pre, batches)]
    reference, _ = _train(name, init, cases.repeated(pre_batches), **overrides)
    cases.save_list(os.path.join(folder, "jax_augment_before_step.npz"), reference.get_weights())


def _data_parallel(folder, out):
    """Item 2: ssl_hsic on two devices with keras.distribution.DataParallel."""
    shardings = []
    plain_step = jax_step.train_step

    def spy(model, state, data):
        jax.debug.inspect_array_sharding(
            data["views"][0], callback=lambda s: shardings.append(
                {"devices": len(s.device_set), "replicated": bool(s.is_fully_replicated),
                 "text": str(s)}))
        return plain_step(model, state, data)

    jax_step.train_step = spy
    try:
        strategy = distribute.make_strategy("data_parallel")
        init = cases.load_list(os.path.join(folder, "init_ssl_hsic.npz"))
        with strategy.scope():
            model = cases.make_model("ssl_hsic")
            model.set_weights(init)
            model.compile()
        history = model.fit(cases.repeated(cases.batch(), cases.STEPS), epochs=1, verbose=0)
    finally:
        jax_step.train_step = plain_step
    cases.save_list(os.path.join(folder, "jax_ssl_hsic_2dev.npz"), model.get_weights())
    out["data_parallel"] = {
        "num_replicas": strategy.num_replicas_in_sync,
        "batch_shardings": shardings,
        "variable_devices": sorted({len(v.value.sharding.device_set) for v in model.weights}),
        "logs": _logs(history),
    }


def main(folder):
    out = {"backend": keras.backend.backend(), "devices": len(jax.devices()), "logs": {},
           "iterations": {}}
    _methods(folder, out)
    _device_augment(folder, out)
    _data_parallel(folder, out)
    return out
