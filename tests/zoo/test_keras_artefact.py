"""Zoo entries as trainable Keras 3 models on every backend (`zoo.load_model`), their feature
maps through both paths (the Keras model and the SavedModel's `feature_maps` signature), and the
SavedModel rebuilt as a Keras encoder from its own weights."""

import importlib.util

import numpy as np
import pytest
import tensorflow as tf

from sslhsic_tf import models, serving, zoo
from tests import helpers

ENTRY = "cissl_resnet18x0.25_cifar10"
BACKENDS = ["tensorflow", "jax"] + (["torch"] if importlib.util.find_spec("torch") else [])

_USER = """
{block}
import json, sys
import numpy as np
import keras
from sslhsic_tf import zoo
x = np.random.default_rng(0).uniform(size=(8, 32, 32, 3)).astype("float32")
y = np.arange(8) % 10
encoder = zoo.load_model("{entry}")
features = keras.ops.convert_to_numpy(encoder(x, training=False))
# Fine-tuning as a Keras user does: a head on the features, Adam, fit().
inputs = keras.Input((32, 32, 3))
model = keras.Model(inputs, keras.layers.Dense(10)(encoder(inputs)))
model.compile(keras.optimizers.Adam(1e-3),
              keras.losses.SparseCategoricalCrossentropy(from_logits=True))
before = keras.ops.convert_to_numpy(encoder.get_layer("stem_conv").kernel).copy()
history = model.fit(x, y, batch_size=8, epochs=2, verbose=0)
after = keras.ops.convert_to_numpy(encoder.get_layer("stem_conv").kernel)
print(json.dumps({{"backend": keras.backend.backend(), "features": features.tolist(),
                  "trainable": len(encoder.trainable_weights),
                  "moved": float(np.abs(after - before).max()),
                  "loss": [float(v) for v in history.history["loss"]],
                  "pyramid": sorted(encoder.pyramid_outputs),
                  "tensorflow_imported": "tensorflow" in sys.modules}}))
"""

@pytest.fixture(scope="module")
def reference():
    x = np.random.default_rng(0).uniform(size=(8, 32, 32, 3)).astype("float32")
    saved = zoo.load(ENTRY)
    return {"x": x, "features": saved(x, training=False).numpy(), "saved": saved}


@pytest.mark.parametrize("backend", BACKENDS)
def test_load_model_features_and_fine_tuning_on_each_backend(backend, reference):
    # Under JAX or torch, TensorFlow must not be needed: it is absent from that process.
    block = helpers.NO_TENSORFLOW if backend != "tensorflow" else ""
    out = helpers.run_python(_USER.format(entry=ENTRY, block=block), backend=backend,
                             timeout=300)
    assert out["backend"] == backend
    np.testing.assert_allclose(np.array(out["features"]), reference["features"], rtol=1e-4,
                               atol=1e-4)
    assert out["trainable"] > 50  # every conv kernel and BatchNorm gamma/beta
    assert out["moved"] > 0 and all(np.isfinite(out["loss"]))
    assert out["pyramid"] == ["P0", "P1", "P2", "P3"]
    if backend != "tensorflow":
        assert not out["tensorflow_imported"]


def test_feature_maps_through_both_paths(reference):
    """Per stage: the SavedModel's `feature_maps` signature and the Keras model's
    `feature_pyramid` give the same maps, of the CIFAR stem's strides; the pooled last stage is
    the features."""
    x = reference["x"]
    signature = reference["saved"].signatures["feature_maps"]
    from_saved = {k: v.numpy() for k, v in signature(images=tf.constant(x)).items()}
    pyramid = models.feature_pyramid(zoo.load_model(ENTRY))
    from_keras = {k: np.asarray(v) for k, v in pyramid(x).items()}
    expected = {"P0": (8, 32, 32, 16), "P1": (8, 16, 16, 32), "P2": (8, 8, 8, 64),
                "P3": (8, 4, 4, 128)}
    assert {k: v.shape for k, v in from_saved.items()} == expected
    assert {k: v.shape for k, v in from_keras.items()} == expected
    for key in expected:
        np.testing.assert_allclose(from_keras[key], from_saved[key], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(from_saved["P3"].mean(axis=(1, 2)), reference["features"],
                               rtol=1e-4, atol=1e-5)


def test_imagenet_stem_pyramid_strides():
    encoder = models.resnet(50, 0.25, cifar_stem=False)
    x = np.random.default_rng(1).uniform(size=(1, 64, 64, 3)).astype("float32")
    maps = models.feature_pyramid(encoder)(x)
    assert {k: tuple(v.shape) for k, v in maps.items()} == {
        "P1": (1, 32, 32, 16), "P2": (1, 16, 16, 64), "P3": (1, 8, 8, 128),
        "P4": (1, 4, 4, 256), "P5": (1, 2, 2, 512)}
    np.testing.assert_allclose(np.asarray(maps["P5"]).mean(axis=(1, 2)),
                               np.asarray(encoder(x, training=False)), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="not a ResNet"):
        models.pyramid_outputs(_not_a_resnet())


def _not_a_resnet():
    import keras

    inputs = keras.Input((8,))
    return keras.Model(inputs, keras.layers.Dense(2)(inputs))


def test_every_entry_holds_its_keras_artefact():
    for name in zoo.list():
        desc = zoo.info(name)
        assert zoo.KERAS_FILE in [f["path"] for f in desc["files"]], name
        assert desc["architecture"]["padding"] in ("symmetric", "same")


def test_resnet_from_saved_model_rebuilds_the_weights(tmp_path):
    encoder = models.resnet(10, 0.25, cifar_stem=True, padding="same")
    x = np.random.default_rng(2).uniform(size=(2, 16, 16, 3)).astype("float32")
    encoder(x)
    serving.export_hub(encoder, tmp_path / "export", image_size=16)
    rebuilt, padding = serving.resnet_from_saved_model(
        tmp_path / "export", depth=10, width_multiplier=0.25, cifar_stem=True,
        image_size=(16, 16))
    assert padding == "same"
    np.testing.assert_allclose(rebuilt(x, training=False), encoder(x, training=False),
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="do not match ResNet-18"):
        serving.resnet_from_saved_model(tmp_path / "export", depth=18, width_multiplier=0.25,
                                        cifar_stem=True, image_size=(16, 16))


def test_evaluate_fine_tunes_zoo_and_random_encoders(tmp_path):
    """`sslhsic-evaluate --encoder=zoo:NAME --protocols=finetune,semi_supervised` trains the
    entry's encoder (and `random:` gives the baseline of the same protocol)."""
    import json

    from sslhsic_tf import data
    from tests.faults import scripts

    arrays = {}
    for split in ("train", "test"):
        source = data.demo(split)
        arrays[f"x_{split}"] = source.images[:200]
        arrays[f"y_{split}"] = source.labels[:200].astype(np.uint8)
    np.savez(tmp_path / "small.npz", **arrays)
    common = [f"--train=cifar10_lossless:{tmp_path / 'small.npz'}:train",
              f"--test=cifar10_lossless:{tmp_path / 'small.npz'}:test",
              "--protocols=finetune,semi_supervised", "--semi_protocol=finetune",
              "--finetune_epochs=1", "--fractions=0.1", "--batch_size=50"]
    runs = scripts.run_many([
        ("evaluate", [f"--encoder=zoo:{ENTRY}", f"--output={tmp_path / 'zoo.json'}", *common],
         None),
        ("evaluate", ["--encoder=random:resnet18x0.25", f"--output={tmp_path / 'random.json'}",
                      *common], None)])
    for proc in runs:
        assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("zoo", "random"):
        results = json.loads((tmp_path / f"{name}.json").read_text())["results"]
        protocols = {r["protocol"] for r in results}
        assert {"finetune", "semi_supervised/finetune"} <= protocols, (name, protocols)
        assert all(0.0 <= r["top1"] <= 1.0 for r in results)
        # --finetune_epochs reaches the subsets' fine-tuning too (it kept its default of 30)
        assert [r["epochs"] for r in results] == [1, 1], results
