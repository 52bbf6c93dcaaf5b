"""Input under tf.distribute: per-replica batches partition the single-device global batch, for
one input pipeline with 2 replicas (a real MirroredStrategy on two logical CPUs) and for several
input pipelines (multi-worker layout)."""

import numpy as np
import pytest
import tensorflow as tf

from sslhsic_tf.data import pipeline, sources
from sslhsic_tf.data.augment import CropConfig, ViewConfig

VIEWS = (ViewConfig(CropConfig(8)), ViewConfig(CropConfig(8)))


def _source():
    images = np.random.default_rng(0).integers(0, 256, (20, 12, 12, 3), dtype=np.uint8)
    return sources.from_arrays(images, np.arange(20), num_classes=20)


def _global(src, k, batch=8):
    ds = pipeline.pretrain_dataset(src, VIEWS, batch, seed=2)
    return [(tuple(v.numpy() for v in b["views"]), b["label"].numpy()) for b in ds.take(k)]


def test_mirrored_strategy_splits_the_global_batch():
    strategy = tf.distribute.MirroredStrategy(
        ["/cpu:0", "/cpu:1"], cross_device_ops=tf.distribute.ReductionToOneDevice())
    src = _source()
    dist = iter(pipeline.distribute_pretrain_dataset(strategy, src, VIEWS, 8, seed=2))
    for views, labels in _global(src, 4):  # 4 steps cross the epoch boundary at image 20
        batch = next(dist)
        got = np.concatenate([t.numpy() for t in strategy.experimental_local_results(
            batch["label"])])
        np.testing.assert_array_equal(got, labels)
        for v, ref in zip(batch["views"], views):
            parts = strategy.experimental_local_results(v)
            assert [p.shape[0] for p in parts] == [4, 4]
            np.testing.assert_array_equal(np.concatenate([p.numpy() for p in parts]), ref)
    with pytest.raises(ValueError, match="global_batch_size=7 is not divisible.*2"):
        pipeline.distribute_pretrain_dataset(strategy, src, VIEWS, 7)


def test_several_input_pipelines_partition_each_global_batch():
    src = _source()
    per_pipeline = []
    for p in range(2):  # 2 workers x 2 replicas: per-replica batch 2
        context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=p,
                                             num_replicas_in_sync=4)
        ds = pipeline.pretrain_dataset(src, VIEWS, 8, seed=2, input_context=context)
        per_pipeline.append([(b["views"][0].numpy(), b["label"].numpy()) for b in ds.take(6)])
    for k, (view, labels) in enumerate(_global(src, 3)):
        parts = [per_pipeline[p][2 * k + r] for p in range(2) for r in range(2)]
        assert all(len(y) == 2 for _, y in parts)
        np.testing.assert_array_equal(np.concatenate([y for _, y in parts]), labels)
        np.testing.assert_array_equal(np.concatenate([v[0] for v in parts]), view[0])
