"""MultiWorkerMirroredStrategy with two local worker processes (loopback ports) trains in step.

Both workers must end with identical weights, equal to one process training on the same global
batch (the cross-worker gather and the 1/num_replicas scaling are the same as for Mirrored).
"""

import json
import os
import socket
import subprocess
import sys

import keras
import numpy as np
import tensorflow as tf

from sslhsic_tf import methods
from tests.helpers import ROOT
from tests.methods.common import TINY, random_batch, tiny_encoder


def _free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return str(s.getsockname()[1])


def test_two_worker_processes_train_identically(tmp_path):
    ports = [_free_port(), _free_port()]
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow"}
    outs = [str(tmp_path / f"worker{i}.json") for i in range(2)]
    procs = [
        subprocess.Popen([sys.executable, "-m", "tests.methods.multiworker_worker", str(i), *ports,
                          outs[i]], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
        for i in range(2)
    ]
    logs = []
    try:
        for p in procs:
            logs.append(p.communicate(timeout=400)[0])
    finally:
        for p in procs:
            p.kill()
    for p, log in zip(procs, logs):
        assert p.returncode == 0, log[-3000:]
    r0, r1 = (json.load(open(o)) for o in outs)
    assert r0["iterations"] == r1["iterations"] == 3
    assert r0["checksum"] == r1["checksum"] and r0["first"] == r1["first"]

    # One process on the same global batches reaches the same weights.
    keras.utils.set_random_seed(0)
    keras_model = methods.create("ssl_hsic", tiny_encoder(), total_steps=10, batch_size=8,
                                 num_classes=3, **TINY["ssl_hsic"])
    keras_model.compile()
    ds = tf.data.Dataset.from_tensors(random_batch(8, seed=1)).repeat(3)
    history = keras_model.fit(ds, epochs=1, verbose=0).history
    weights = keras_model.get_weights()
    np.testing.assert_allclose(r0["first"], np.asarray(weights[0]).ravel()[:16], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(r0["checksum"], sum(np.abs(w).sum() for w in weights), rtol=1e-5)
    np.testing.assert_allclose(r0["loss"], history["loss"], rtol=1e-4)
