"""export_hub loaded by tensorflow_hub.KerasLayer in a tf_keras (Keras 2) model, own process."""

import numpy as np

from sslhsic_tf import serving
from tests.helpers import run_python
from tests.serving.encoders import images, tiny_encoder

SCRIPT = """
import json, sys
import numpy as np
import tensorflow as tf
import tf_keras
# tensorflow_hub 0.16.1 imports pkg_resources, gone since setuptools 82: make it absent whatever
# this machine has, so that the compatibility path of import_tensorflow_hub is what runs.
sys.modules["pkg_resources"] = None
from sslhsic_tf.serving import import_tensorflow_hub

hub = import_tensorflow_hub()
result = {"stand_in_left": sys.modules.get("pkg_resources") is not None}
assert tf.keras.__name__.startswith("tf_keras"), tf.keras.__name__
path, data = sys.argv[1], np.load(sys.argv[2])  # plain arrays: no pickle
x, y = data["x"], data["y"]

frozen = hub.KerasLayer(path, trainable=False)
result["frozen_train_call"] = frozen(x, training=True).numpy().tolist()  # frozen: inference BN

layer = hub.KerasLayer(path, trainable=True)
inputs = tf_keras.Input((8, 12, 3))
outputs = tf_keras.layers.Dense(2, name="head")(layer(inputs))
model = tf_keras.Model(inputs, outputs)
result["inference"] = layer(x, training=False).numpy().tolist()
result["n_trainable"] = len(layer.trainable_weights)
result["n_non_trainable"] = len(layer.non_trainable_weights)
result["reg_losses"] = [float(l) for l in model.losses]
with tf.GradientTape() as tape:
    loss = tf.reduce_mean(tf.square(model(x, training=True) - y))
grads = tape.gradient(loss, layer.trainable_weights)
result["grad_norms"] = [float(tf.norm(g)) if g is not None else 0.0 for g in grads]

before = [w.numpy().copy() for w in layer.weights]
trainable_ids = {id(w) for w in layer.trainable_weights}
model.compile(optimizer=tf_keras.optimizers.SGD(0.1), loss="mse")
model.fit(x, y, batch_size=len(x), epochs=1, verbose=0)
changed = [(id(w) in trainable_ids, bool(np.abs(w.numpy() - b).max() > 0))
           for w, b in zip(layer.weights, before)]
result["changed_trainable"] = [c for trainable, c in changed if trainable]
result["changed_non_trainable"] = [c for trainable, c in changed if not trainable]
print(json.dumps(result))
"""


def test_hub_keras_layer_fine_tunes_in_tf_keras(tmp_path):
    encoder = tiny_encoder(seed=11)
    x = images(4, 8, 12, seed=12)
    expected = encoder(x, training=False).numpy()
    serving.export_hub(encoder, tmp_path / "hub", image_size=(8, 12))
    np.savez(tmp_path / "data.npz", x=x, y=np.ones((4, 2), "float32"))

    code = (
        "import sys; sys.argv = [sys.argv[0], %r, %r]\n"
        % (str(tmp_path / "hub"), str(tmp_path / "data.npz"))
    ) + SCRIPT
    result = run_python(code, backend="tensorflow", env={"TF_USE_LEGACY_KERAS": "1"})

    np.testing.assert_allclose(result["inference"], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result["frozen_train_call"], expected, rtol=1e-5, atol=1e-6)
    assert (result["n_trainable"], result["n_non_trainable"]) == (6, 4)
    assert result["reg_losses"] == []
    assert result["stand_in_left"] is False
    assert min(result["grad_norms"]) > 1e-6, result["grad_norms"]
    assert result["changed_trainable"] == [True] * 6  # the step reached every encoder weight
    assert result["changed_non_trainable"] == [True] * 4  # BatchNorm ran in training mode

