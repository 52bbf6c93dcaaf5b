"""The training model under KERAS_BACKEND=jax, against the TensorFlow step in this process.

One JAX subprocess (tests/jax_backend/jax_worker.py, two forced host devices) trains every method
from initial weights written here, and this process repeats each run under TensorFlow:
1. every method: two `fit()` steps under JAX give the TensorFlow weights (float32 rounding:
   see `cases.assert_same_training`), logs and step counters;
2. `keras.distribution.DataParallel` over two devices gives the one-device result;
3. the JAX-trained model saved as `.keras` loads under TensorFlow with the same weights, its
   encoder exports as a TF-Hub SavedModel with the JAX encoder's outputs, and one more step
   under TensorFlow equals one more step under JAX (optimizer state carried across backends);
4. pixel augmentation inside the step (`device_augment="cifar10"` on `pixel_stage="device"`
   batches) on both backends: views differ per image and per step, the same seed gives the same
   views, and the step equals a step on views augmented beforehand from the step seed.
"""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from sslhsic_tf import serving
from sslhsic_tf.data import pipeline, sources
from sslhsic_tf.utils import random as rng
from tests.helpers import run_python
from tests.jax_backend import cases

LOG_RTOL, LOG_ATOL = 1e-4, 1e-6


@pytest.fixture(scope="module")
def jax_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("jax_backend")
    for name in cases.METHODS:
        cases.save_list(folder / f"init_{name}.npz", cases.make_model(name).get_weights())
    cases.save_list(folder / "init_augment.npz",
                    cases.make_model(cases.AUGMENT_METHOD, **cases.AUGMENT_OVERRIDES).get_weights())
    data = pipeline.pretrain_dataset(sources.demo("test"), "cifar10", cases.BATCH, seed=3,
                                     pixel_stage="device")
    arrays = {}
    for k, b in enumerate(data.take(2)):
        arrays.update({f"b{k}_v0": b["views"][0].numpy(), f"b{k}_v1": b["views"][1].numpy(),
                       f"b{k}_label": b["label"].numpy()})
    np.savez(folder / "pipeline.npz", **arrays)
    keras.backend.clear_session()
    flags = os.environ.get("XLA_FLAGS", "")
    result = run_python(
        "import json\n"
        "from tests.jax_backend import jax_worker\n"
        f"print(json.dumps(jax_worker.main({str(folder)!r})))\n",
        backend="jax",
        # CPU, like this process's TensorFlow, with two host devices for DataParallel.
        env={"JAX_PLATFORMS": "cpu",
             "XLA_FLAGS": f"{flags} --xla_force_host_platform_device_count=2".strip()},
    )
    assert result["backend"] == "jax" and result["devices"] == 2, result
    return folder, result


def _fit_tf(name, init, dataset, **overrides):
    model = cases.make_model(name, **overrides)
    model.set_weights(init)
    # Eagerly: the TensorFlow graph step of every method is checked in tests/methods, and
    # tracing it again costs more than these two steps (tiny encoder, batch 8).
    model.compile(run_eagerly=True)
    history = model.fit(dataset, epochs=1, verbose=0)
    return model, {k: float(v[-1]) for k, v in history.history.items()}


def _pipeline_batches(folder):
    with np.load(folder / "pipeline.npz") as d:
        return [{"views": (d[f"b{k}_v0"], d[f"b{k}_v1"]), "label": d[f"b{k}_label"]}
                for k in range(2)]


@pytest.mark.parametrize("name", cases.METHODS)
def test_jax_step_equals_tensorflow_step(jax_run, name):
    folder, result = jax_run
    init = cases.load_list(folder / f"init_{name}.npz")
    model, logs = _fit_tf(name, init, cases.repeated(cases.batch(), cases.STEPS))
    cases.assert_same_training(cases.load_list(folder / f"jax_{name}.npz"), model.get_weights(),
                               init, what=f"{name}: JAX vs TensorFlow")
    assert result["iterations"][name] == int(model.optimizer.iterations.numpy()) == cases.STEPS
    jax_logs = result["logs"][name]
    assert set(jax_logs) == set(logs)
    for key, value in logs.items():
        assert jax_logs[key] == pytest.approx(value, rel=LOG_RTOL, abs=LOG_ATOL), key
    if name == "ssl_hsic":  # the learned bandwidth moved (its own Adam ran under JAX)
        assert abs(jax_logs["bandwidth"] - 1.0) > 1e-3


def test_data_parallel_on_two_devices_equals_one_device(jax_run):
    folder, result = jax_run
    dp = result["data_parallel"]
    assert dp["num_replicas"] == 2
    # The global batch was split over both devices; every variable lives on both (replicated).
    assert dp["batch_shardings"], "the step was never traced"
    for s in dp["batch_shardings"]:
        assert s["devices"] == 2 and not s["replicated"], s
    assert dp["variable_devices"] == [2]
    init = cases.load_list(folder / "init_ssl_hsic.npz")
    cases.assert_same_training(cases.load_list(folder / "jax_ssl_hsic_2dev.npz"),
                               cases.load_list(folder / "jax_ssl_hsic.npz"), init,
                               what="ssl_hsic: 2 devices vs 1", update_rtol=1e-3, atol=1e-6)
    for key, value in result["logs"]["ssl_hsic"].items():
        assert dp["logs"][key] == pytest.approx(value, rel=LOG_RTOL, abs=LOG_ATOL), key


def test_jax_trained_model_loads_and_exports_under_tensorflow(jax_run, tmp_path):
    folder, _ = jax_run
    model = serving.load_keras(folder / "jax_model.keras")
    assert type(model).__name__ == "SSLHSIC" and keras.backend.backend() == "tensorflow"
    assert int(model.optimizer.iterations.numpy()) == cases.STEPS
    trained = cases.load_list(folder / "jax_ssl_hsic.npz")
    for got, want in zip(model.get_weights(), trained):
        np.testing.assert_array_equal(got, want)
    x = cases.eval_images()
    jax_features = np.load(folder / "jax_features.npy")
    serving.export_hub(model.export_encoder(), tmp_path / "hub", image_size=8)
    hub = tf.saved_model.load(str(tmp_path / "hub"))
    exported = hub(tf.constant(x), training=False).numpy()
    served = hub.signatures["serving_default"](**{serving.INPUT_NAME: tf.constant(x)})
    encoder = serving.load_keras(folder / "jax_encoder.keras")
    # float32 CPU kernels of the two backends: agreement to rounding.
    np.testing.assert_allclose(exported, jax_features, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(served[serving.OUTPUT_NAME].numpy(), jax_features,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(encoder(x, training=False).numpy(), jax_features,
                               rtol=1e-5, atol=1e-6)
    assert np.abs(jax_features).max() > 0
    # Training resumes under TensorFlow from the JAX optimizer state (LARS momentum, Adams,
    # step counters) as it did under JAX.
    model.fit(cases.repeated(cases.batch(), 1), epochs=1, verbose=0)
    cases.assert_same_training(cases.load_list(folder / "jax_ssl_hsic_step3.npz"),
                               model.get_weights(), trained, what="step 3 after reload")


def _check_augmentations(aug, inputs):
    """Checks of in-step augmentation outputs (a dict of `[B, 32, 32, 3]` arrays)."""
    for key, value in aug.items():
        assert value.shape == (cases.BATCH, 32, 32, 3) and value.dtype == np.float32, key
        assert 0.0 <= value.min() and value.max() <= 1.0, key
    # Reproducible from the step seed.
    np.testing.assert_array_equal(aug["again_v0"], aug["step0_v0"])
    # Per image: one image repeated over the batch comes out (mostly) different per position.
    same = aug["same_image_v0"].reshape(cases.BATCH, -1)
    distinct = len({row.tobytes() for row in same})
    assert distinct >= cases.BATCH - 2, f"only {distinct} distinct augmentations of one image"
    # Per step: the same images get other augmentations at the next step.
    changed = [not np.array_equal(a, b) for a, b in
               zip(aug["same_image_v0"], aug["same_image_step1_v0"])]
    assert sum(changed) >= cases.BATCH - 2, changed
    # And the augmentation changed the pixels (the pipeline stopped after crops and flips).
    assert not np.allclose(aug["step0_v0"], inputs)


def test_augmentation_inside_the_jax_step(jax_run):
    folder, result = jax_run
    with np.load(folder / "jax_augment.npz") as d:
        aug = dict(d)
    _check_augmentations(aug, _pipeline_batches(folder)[0]["views"][0])
    assert all(np.isfinite(v) for v in result["augment_logs"].values())
    init = cases.load_list(folder / "init_augment.npz")
    cases.assert_same_training(cases.load_list(folder / "jax_augment_in_step.npz"),
                               cases.load_list(folder / "jax_augment_before_step.npz"), init,
                               what="JAX: augmentation in the step vs before it")


def test_augmentation_inside_the_tensorflow_step(jax_run):
    folder, _ = jax_run
    batches = _pipeline_batches(folder)
    init = cases.load_list(folder / "init_augment.npz")
    name, overrides = cases.AUGMENT_METHOD, cases.AUGMENT_OVERRIDES
    model, logs = _fit_tf(name, init, cases.repeated(batches), device_augment="cifar10",
                          **overrides)
    assert all(np.isfinite(v) for v in logs.values())

    def augment(views, step):
        return [v.numpy() for v in model.prepare_step(views, rng.stateless_seed(model.seed, step))[0]]

    same_image = tuple(np.repeat(v[:1], cases.BATCH, axis=0) for v in batches[0]["views"])
    pre = [augment(b["views"], k) for k, b in enumerate(batches)]
    aug = {"step0_v0": pre[0][0], "again_v0": augment(batches[0]["views"], 0)[0],
           "same_image_v0": augment(same_image, 0)[0],
           "same_image_step1_v0": augment(same_image, 1)[0]}
    _check_augmentations(aug, batches[0]["views"][0])
    pre_batches = [{"views": tuple(p), "label": b["label"]} for p, b in zip(pre, batches)]
    reference, _ = _fit_tf(name, init, cases.repeated(pre_batches), **overrides)
    cases.assert_same_training(model.get_weights(), reference.get_weights(), init,
                               what="TensorFlow: augmentation in the step vs before it")
