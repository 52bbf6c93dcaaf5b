"""`python -m sslhsic_tf.pretrain` end to end under KERAS_BACKEND=jax (a few steps), and its
outputs read back under TensorFlow in this process: the training model and encoder `.keras`
files load, the last checkpoint holds the final weights, and the encoder computes features."""

import csv
import json
import os
import subprocess
import sys

import numpy as np

from sslhsic_tf import serving
from sslhsic_tf.training.checkpoint import CheckpointManager
from tests.helpers import ROOT

FLAGS = ["--config.total_steps=4", "--config.checkpoint_every_steps=2",
         "--config.batch_size=32", "--config.model.depth=10",  # half the compile of a ResNet-18
         "--config.model.width_multiplier=0.125", "--noevaluate",
         "--verbose=0"]


def test_pretrain_script_runs_under_jax(tmp_path):
    workdir = tmp_path / "run"
    env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
    proc = subprocess.run(
        [sys.executable, "-m", "sslhsic_tf.pretrain", f"--workdir={workdir}", *FLAGS],
        capture_output=True, text=True, timeout=900, env=env, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "sslhsic_tf pretrain: ssl_hsic, ResNet-10 x0.125 (CIFAR stem)" in proc.stdout

    with open(workdir / "results.json") as f:
        results = json.load(f)
    assert results["backend"] == "jax" and results["num_replicas"] == 1
    assert results["total_steps"] == 4
    assert results["export_path"] == str(workdir / "encoder.keras")
    logs = results["final_logs"]
    assert {"loss", "hsic_zy", "hsic_zz", "bandwidth", "tau", "probe_loss"} <= set(logs)
    assert all(np.isfinite(v) for v in logs.values()), logs
    with open(workdir / "train_log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    manager = CheckpointManager(str(workdir / "checkpoints"))
    assert manager.steps() == [2, 4]

    # Read back under TensorFlow: the .keras files are the bridge between the backends.
    model = serving.load_keras(workdir / "model.keras")
    assert int(model.optimizer.iterations.numpy()) == 4
    final = model.get_weights()
    assert manager.restore(model)["step"] == 4
    for got, want in zip(model.get_weights(), final):
        np.testing.assert_array_equal(got, want)
    encoder = serving.load_keras(workdir / "encoder.keras")
    images = np.random.default_rng(0).random((4, 32, 32, 3), dtype=np.float32)
    features = encoder(images, training=False).numpy()
    assert features.shape == (4, 64) and np.isfinite(features).all()
    np.testing.assert_allclose(features, model.export_encoder()(images, training=False).numpy(),
                               rtol=1e-6, atol=1e-6)
