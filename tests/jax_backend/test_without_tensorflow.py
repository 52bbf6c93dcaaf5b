"""The accelerator path needs no TensorFlow: KERAS_BACKEND=jax in a process where `import
tensorflow` fails (a `sys.meta_path` blocker, as on the GPU machines, which have JAX but no
TensorFlow).

In that process: every registered method trains two steps from in-memory uint8 images with the
whole augmentation (crops and pixels) inside the step, the encoder's kNN accuracy is computed,
the model saves as `.keras`, and the parts that genuinely need TensorFlow (tf.data, SavedModel
export) fail with one line saying so. Then the prepared GPU run (`benchmarks.accelerator
--zoo-run`) runs end to end in its `--smoke` mode.
"""

import json

import pytest

from tests.helpers import run_python

pytestmark = pytest.mark.slow

BLOCKER = """
import os, sys
os.environ["KERAS_BACKEND"] = "jax"


class NoTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith(("tensorflow.", "tensorflow_")):
            raise ImportError(f"No module named {name!r} (blocked: no TensorFlow here)")


sys.meta_path.insert(0, NoTensorFlow())
"""

SCRIPT = BLOCKER + """
import json
import numpy as np
from sslhsic_tf import methods, serving
from sslhsic_tf.data import device
from sslhsic_tf.evaluation import knn
from sslhsic_tf.utils import random as rng_lib
from tests.methods.common import TINY, tiny_encoder

rng = np.random.default_rng(0)
images = rng.integers(0, 256, (16, 12, 12, 3), dtype=np.uint8)
labels = (np.arange(16) % 3).astype("int32")
out = {}
for name in methods.names():
    model = methods.create(name, tiny_encoder(), total_steps=2, batch_size=8, num_classes=3,
                           **TINY[name])
    model.compile()
    losses = []
    for step in range(2):
        seed = rng_lib.stateless_seed(0, step)
        views = device.augment_views(images[8 * step: 8 * step + 8], seed, "cifar10_symmetric")
        logs = model.train_on_batch({"views": views, "label": labels[:8]}, return_dict=True)
        losses.append(float(logs["loss"]))
    feats = np.asarray(model.encoder(images.astype("float32") / 255.0, training=False))
    (record,) = knn.knn_evaluate(feats[:8], labels[:8], feats[8:], labels[8:], ks=(3,))
    out[name] = {"losses": losses, "steps": int(model.optimizer.iterations),
                 "knn_top1": record["top1"], "views": [list(v.shape) for v in views]}
model.save(os.path.join(OUT, "last.keras"))
errors = {}
from sslhsic_tf import data
for what, call in (("pipeline", lambda: data.pretrain_dataset),
                   ("export", lambda: serving.export_hub)):
    try:
        call()
    except ImportError as e:
        errors[what] = str(e)
out["_errors"] = errors
out["_tensorflow_imported"] = any(m == "tensorflow" or m.startswith("tensorflow.")
                                  for m in sys.modules)
print(json.dumps(out))
"""


def test_every_method_trains_without_tensorflow(tmp_path):
    out = run_python(f"OUT = {str(tmp_path)!r}\n" + SCRIPT)
    assert out.pop("_tensorflow_imported") is False
    errors = out.pop("_errors")
    assert "needs TensorFlow (tf.data)" in errors["pipeline"], errors
    assert "augment_views" in errors["pipeline"] and "\n" not in errors["pipeline"]
    assert "needs TensorFlow (SavedModel export)" in errors["export"], errors
    from sslhsic_tf import methods

    assert sorted(out) == sorted(methods.names())
    for name, result in out.items():
        assert result["steps"] == 2, (name, result)
        assert all(abs(v) < 1e6 for v in result["losses"]), (name, result)
        assert result["views"] == [[8, 32, 32, 3]] * 2, (name, result)
        assert 0.0 <= result["knn_top1"] <= 1.0
    assert (tmp_path / "last.keras").stat().st_size > 0


def test_accelerator_zoo_run_smoke_without_tensorflow(tmp_path):
    out = tmp_path / "out"
    summary = run_python(BLOCKER + (
        "import json, runpy, sys\n"
        f"sys.argv = ['accelerator', '--zoo-run', {str(out)!r}, '--smoke']\n"
        "try:\n"
        "    runpy.run_module('benchmarks.accelerator', run_name='__main__')\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "print(json.dumps({'tensorflow_imported': 'tensorflow' in sys.modules}))\n"
    ))
    assert summary["tensorflow_imported"] is False
    result = json.loads((out / "summary.json").read_text())
    assert result["steps"] >= 2 and result["images_per_second"] > 0
    assert 0.0 <= result["knn_top1"] <= 1.0
    files = sorted(out.glob("encoder_weights.*.npz"))
    assert files and all(f.stat().st_size <= 15 * 2 ** 20 for f in files)
    assert result["steps"] == 8 and result["final_schedule_position"] == 8  # the fixed clock

    # Back under TensorFlow (this process): the weight files become a zoo SavedModel whose
    # features give the kNN figure the JAX run computed on the device, on the same images.
    import numpy as np

    from benchmarks import zoo_run
    from sslhsic_tf import zoo
    from sslhsic_tf.data import arrays
    from sslhsic_tf.evaluation import knn

    zoo_root = tmp_path / "zoo"
    zoo_root.mkdir()
    (zoo_root / "manifest.json").write_text('{"format": "sslhsic_tf.zoo", "models": {}, '
                                            '"version": 1}')
    import os

    os.environ["SSLHSIC_ZOO"] = str(zoo_root)
    try:
        zoo_run.export(str(out), "smoke_gpu_entry", zoo=True)
    finally:
        del os.environ["SSLHSIC_ZOO"]
    info = zoo.info("smoke_gpu_entry", root=str(zoo_root))
    assert info["training"]["steps"] == 8 and info["method"] == "ssl_hsic"
    encoder = zoo.load("smoke_gpu_entry", root=str(zoo_root))
    (x_train, y_train), (x_test, y_test) = arrays.cifar10_archive_arrays(
        arrays.DEMO_ARCHIVE, ("train", "test"))

    def features(x):
        return np.concatenate([np.asarray(encoder(x[i:i + 500].astype("float32") / 255,
                                                  training=False))
                               for i in range(0, len(x), 500)])

    (record,) = knn.knn_evaluate(features(x_train), y_train, features(x_test), y_test,
                                 ks=(200,), num_classes=10)
    assert abs(record["top1"] - result["knn_top1"]) <= 0.004, (record, result["knn"])
