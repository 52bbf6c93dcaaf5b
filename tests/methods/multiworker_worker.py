"""One worker of the two-process MultiWorkerMirroredStrategy test (run by test_multiworker.py).

Usage: python -m tests.methods.multiworker_worker <task_index> <port0> <port1> <out.json>
"""

import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
index, port0, port1, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
os.environ["TF_CONFIG"] = json.dumps({
    "cluster": {"worker": [f"localhost:{port0}", f"localhost:{port1}"]},
    "task": {"type": "worker", "index": index},
})

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from sslhsic_tf import distribute, methods  # noqa: E402
from tests.methods.common import TINY, random_batch, tiny_encoder  # noqa: E402

GLOBAL_BATCH, STEPS = 8, 3
strategy = distribute.make_strategy("multiworker")
assert strategy.num_replicas_in_sync == 2, strategy.num_replicas_in_sync
batch = random_batch(GLOBAL_BATCH, seed=1)


def dataset_fn(ctx):
    # Each worker reads its own half of every global batch (the per-replica batch).
    per_replica = ctx.get_per_replica_batch_size(GLOBAL_BATCH)
    lo = ctx.input_pipeline_id * per_replica
    shard = tf.nest.map_structure(lambda x: x[lo:lo + per_replica], batch)
    return tf.data.Dataset.from_tensors(shard).repeat(STEPS)


keras.utils.set_random_seed(0)  # the heads' initializers draw from Keras' global RNG
with strategy.scope():
    model = methods.create("ssl_hsic", tiny_encoder(), total_steps=10, batch_size=GLOBAL_BATCH,
                           num_classes=3, **TINY["ssl_hsic"])
    model.compile()
data = strategy.distribute_datasets_from_function(dataset_fn)
history = model.fit(data, epochs=1, steps_per_epoch=STEPS, verbose=0).history
weights = model.get_weights()
with open(out, "w") as f:
    json.dump({
        "loss": [float(x) for x in history["loss"]],
        "iterations": int(model.optimizer.iterations.numpy()),
        "checksum": float(sum(np.abs(w).sum() for w in weights)),
        "first": np.asarray(weights[0]).ravel()[:16].tolist(),
    }, f)
