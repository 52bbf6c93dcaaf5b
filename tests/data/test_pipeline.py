"""Pretraining / evaluation / probe datasets: structure, order, resumption, per-image randomness,
the device split, the two crop paths, and errors."""

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from sslhsic_tf.data import device, pipeline, sources
from sslhsic_tf.data.augment import CropConfig, EvalConfig, PixelConfig, ViewConfig


def _indexed_source(n=20, size=16, seed=0):
    """Random images whose label is their index (so batches reveal the order)."""
    images = np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    return sources.from_arrays(images, np.arange(n), num_classes=n)


def _batches(ds, k):
    out = []
    for b in ds.take(k):
        out.append(([v.numpy() for v in b["views"]], b["label"].numpy()))
    return out


SMALL = (ViewConfig(CropConfig(12)), ViewConfig(CropConfig(12), PixelConfig(solarize_prob=0.2)))


def test_structure_types_and_ranges():
    src = sources.demo("test")
    b = next(iter(pipeline.pretrain_dataset(src, "cifar10", 16, seed=0)))
    assert set(b) == {"views", "label"} and len(b["views"]) == 2
    for v in b["views"]:
        assert v.shape == (16, 32, 32, 3) and v.dtype == tf.float32
        assert float(tf.reduce_min(v)) >= 0.0 and float(tf.reduce_max(v)) <= 1.0
    assert b["label"].dtype == tf.int32
    multi = (ViewConfig(CropConfig(24)), ViewConfig(CropConfig(24)),
             ViewConfig(CropConfig(8, scale=(0.05, 0.14))))
    b = next(iter(pipeline.pretrain_dataset(src, multi, 4, seed=0)))
    assert [tuple(v.shape) for v in b["views"]] == [(4, 24, 24, 3), (4, 24, 24, 3), (4, 8, 8, 3)]
    unlabelled = sources.from_arrays(src.images[:10])
    b = next(iter(pipeline.pretrain_dataset(unlabelled, SMALL, 5, seed=0)))
    np.testing.assert_array_equal(b["label"], [-1] * 5)


def test_each_epoch_is_a_fresh_permutation_and_batches_are_full():
    src = _indexed_source(20)
    ds = pipeline.pretrain_dataset(src, SMALL, 8, seed=1, num_epochs=2)  # 40 images: 5 batches
    labels = np.concatenate([y for _, y in _batches(ds, 10)])
    assert len(labels) == 40
    e1, e2 = labels[:20], labels[20:]
    assert sorted(e1) == list(range(20)) and sorted(e2) == list(range(20))
    assert not np.array_equal(e1, e2) and not np.array_equal(e1, np.arange(20))
    assert pipeline.steps_per_epoch(src, 8) == 2


def test_same_seed_same_batches_and_resume_mid_epoch():
    src = _indexed_source(20)
    full = _batches(pipeline.pretrain_dataset(src, SMALL, 8, seed=5), 6)
    again = _batches(pipeline.pretrain_dataset(src, SMALL, 8, seed=5), 6)
    other = _batches(pipeline.pretrain_dataset(src, SMALL, 8, seed=6), 1)
    resumed = _batches(pipeline.pretrain_dataset(src, SMALL, 8, seed=5, start_step=3), 3)
    for (va, ya), (vb, yb) in zip(full, again):
        np.testing.assert_array_equal(ya, yb)
        for a, b in zip(va, vb):
            np.testing.assert_array_equal(a, b)
    assert not np.array_equal(full[0][0][0], other[0][0][0])
    # Batches 3, 4, 5 (crossing the epoch boundary at image 40) equal the uninterrupted run.
    for (va, ya), (vb, yb) in zip(full[3:], resumed):
        np.testing.assert_array_equal(ya, yb)
        for a, b in zip(va, vb):
            np.testing.assert_array_equal(a, b)


def test_parameters_are_drawn_per_image():
    image = np.random.default_rng(2).integers(0, 256, (1, 16, 16, 3), dtype=np.uint8)
    src = sources.from_arrays(np.repeat(image, 8, axis=0))
    views, _ = _batches(pipeline.pretrain_dataset(src, SMALL, 8, seed=0), 1)[0]
    flat = views[0].reshape(8, -1)
    assert min(np.abs(flat[i] - flat[j]).max() for i in range(8) for j in range(i)) > 1e-2
    assert not np.allclose(views[0], views[1])  # the two views differ too


def test_device_stage_then_pixel_augment_equals_pipeline_stage():
    """The JAX split: crops from tf.data, pixel ops later. With deterministic pixel ops
    (grayscale and solarize always) both routes must give the same views."""
    cfg = PixelConfig(jitter_prob=0.0, grayscale_prob=1.0, solarize_prob=1.0)
    views = (ViewConfig(CropConfig(16), cfg), ViewConfig(CropConfig(10), cfg))
    src = sources.demo("test")
    on_cpu = _batches(pipeline.pretrain_dataset(src, views, 6, seed=3), 1)[0][0]
    crops = _batches(pipeline.pretrain_dataset(src, views, 6, seed=3, pixel_stage="device"), 1)
    crops = crops[0][0]
    assert not np.allclose(crops[0][..., 0], crops[0][..., 1])  # not yet grayscale
    later = device.pixel_augment_views(crops, tf.constant([0, 1]), views)
    for a, b in zip(on_cpu, later):
        np.testing.assert_allclose(a, b, atol=1e-6)
    # The same stage as the layer a training model receives, before and after serialisation.
    layer = device.DeviceAugmentation(views)
    copy = device.DeviceAugmentation.from_config(layer.get_config())
    for aug in (layer, copy):
        for a, b in zip(on_cpu, aug(crops, tf.constant([0, 1]))):
            np.testing.assert_allclose(a, b, atol=1e-6)


def test_batched_and_per_element_crops_agree():
    src = sources.demo("test")
    run = lambda mode: _batches(pipeline.pretrain_dataset(  # noqa: E731
        src, "cifar10", 8, seed=4, pixel_stage="device", crop_mode=mode), 2)
    for (va, ya), (vb, yb) in zip(run("batched"), run("per_element")):
        np.testing.assert_array_equal(ya, yb)
        for a, b in zip(va, vb):
            # tf.image.resize's non-antialiased bicubic uses a 1024-entry weight table.
            np.testing.assert_allclose(a, b, atol=2e-3)


def _write_folder(tmp_path, n=6):
    rng = np.random.default_rng(3)
    for i in range(n):
        d = tmp_path / f"class{i % 2}"
        d.mkdir(exist_ok=True)
        a = rng.integers(0, 256, (20 + 3 * i, 30 - 2 * i, 3), dtype=np.uint8)
        Image.fromarray(a).save(d / f"{i}.png")
    return tmp_path


def test_variable_size_sources_encoded_and_files(tmp_path):
    root = _write_folder(tmp_path)
    for in_memory, kind in ((True, "encoded"), (False, "files")):
        src = sources.image_folder(root, in_memory=in_memory)
        assert src.kind == kind
        batches = _batches(pipeline.pretrain_dataset(src, SMALL, 4, seed=0), 3)
        assert all(v.shape == (4, 12, 12, 3) for vs, _ in batches for v in vs)
        resumed = _batches(pipeline.pretrain_dataset(src, SMALL, 4, seed=0, start_step=2), 1)
        np.testing.assert_array_equal(resumed[0][0][0], batches[2][0][0])


def test_stream_source_is_shuffled_and_resumable():
    images = np.random.default_rng(4).integers(0, 256, (12, 8, 8, 3), dtype=np.uint8)
    ds = tf.data.Dataset.from_tensor_slices((images, np.arange(12)))
    src = sources.from_dataset(ds, in_memory=False)
    assert src.kind == "stream"
    full = _batches(pipeline.pretrain_dataset(src, SMALL, 4, seed=0, shuffle_buffer=6), 6)
    labels = np.concatenate([y for _, y in full])
    assert sorted(labels[:12]) == list(range(12)) and sorted(labels[12:]) == list(range(12))
    assert not np.array_equal(labels[:12], np.arange(12))
    resumed = _batches(pipeline.pretrain_dataset(src, SMALL, 4, seed=0, shuffle_buffer=6,
                                                 start_step=4), 2)
    for (va, ya), (vb, yb) in zip(full[4:], resumed):
        np.testing.assert_array_equal(ya, yb)
        np.testing.assert_array_equal(va[1], vb[1])


def test_stream_float_images_outside_unit_range_stop_the_pipeline():
    ds = tf.data.Dataset.from_tensor_slices((np.full((8, 8, 8, 3), 2.0, np.float32), np.arange(8)))
    src = sources.from_dataset(ds, in_memory=False)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"must lie in \[0, 1\]"):
        next(iter(pipeline.pretrain_dataset(src, SMALL, 4)))


def test_eval_dataset_order_no_drop_and_identity_for_cifar():
    src = sources.demo("test")
    batches = list(pipeline.eval_dataset(src, "cifar10", 300))
    assert [int(x.shape[0]) for x, _ in batches] == [300, 300, 300, 100]
    images = np.concatenate([x.numpy() for x, _ in batches])
    np.testing.assert_array_equal(np.concatenate([y.numpy() for _, y in batches]), src.labels)
    np.testing.assert_allclose(images, src.images / np.float32(255), atol=1e-7)


def test_eval_centre_crop_matches_resize_of_the_centre(tmp_path):
    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, (3, 40, 50, 3), dtype=np.uint8)
    config = EvalConfig(16, crop_fraction=0.875)
    # side = round(0.875 * 40) = 35, top = 2, left = 7
    ref = tf.image.resize(images[:, 2:37, 7:42], (16, 16), method="bicubic").numpy() / 255
    batched = next(iter(pipeline.eval_dataset(sources.from_arrays(images), config, 8)))[0]
    np.testing.assert_allclose(batched, np.clip(ref, 0, 1), atol=2e-3)
    folder = tmp_path / "f" / "c"
    folder.mkdir(parents=True)
    for i, a in enumerate(images):
        Image.fromarray(a).save(folder / f"{i}.png")
    per_element = next(iter(pipeline.eval_dataset(
        sources.image_folder(tmp_path / "f", in_memory=False), config, 8)))[0]
    np.testing.assert_allclose(per_element, np.clip(ref, 0, 1), atol=1e-6)


def test_probe_pad_crop_is_a_window_of_the_padded_image():
    src = _indexed_source(10, size=8)
    config = EvalConfig(8, crop_fraction=1.0, probe_mode="pad_crop", padding=2)
    batches = list(pipeline.probe_train_dataset(src, config, 4, seed=0, num_epochs=1))
    labels = np.concatenate([y.numpy() for _, y in batches])
    assert sorted(labels) == list(range(10))  # every image exactly once, last batch kept
    for x, y in batches:
        for img, label in zip(x.numpy(), y.numpy()):
            padded = np.pad(src.images[label] / 255.0, [(2, 2), (2, 2), (0, 0)])
            windows = [padded[i:i + 8, j:j + 8] for i in range(5) for j in range(5)]
            windows += [w[:, ::-1] for w in windows]
            assert min(np.abs(w - img).max() for w in windows) < 1e-6
    small = sources.from_arrays(np.zeros((2, 6, 6, 3), np.uint8))
    with pytest.raises(ValueError, match="smaller than the probe crop"):
        pipeline.probe_train_dataset(small, config, 2)
    rrc = next(iter(pipeline.probe_train_dataset(src, EvalConfig(12), 4, seed=0)))[0]
    assert rrc.shape == (4, 12, 12, 3)


def test_bad_arguments():
    src = _indexed_source(20)
    context = tf.distribute.InputContext(num_input_pipelines=1, input_pipeline_id=0,
                                         num_replicas_in_sync=2)
    with pytest.raises(ValueError, match="global_batch_size=9 is not divisible.*2"):
        pipeline.pretrain_dataset(src, SMALL, 9, input_context=context)
    with pytest.raises(TypeError, match="ImageSource"):
        pipeline.pretrain_dataset(np.zeros((4, 8, 8, 3)), SMALL, 2)
    with pytest.raises(ValueError, match="less than one global batch"):
        pipeline.pretrain_dataset(src, SMALL, 16, num_epochs=0.5)
    with pytest.raises(ValueError, match="crop_mode"):
        pipeline.pretrain_dataset(src, SMALL, 4, crop_mode="fast")
    with pytest.raises(ValueError, match="pixel_stage"):
        pipeline.pretrain_dataset(src, SMALL, 4, pixel_stage="gpu")
    with pytest.raises(ValueError, match="start_step"):
        pipeline.pretrain_dataset(src, SMALL, 4, start_step=-1)
    with pytest.raises(TypeError, match="seed"):
        pipeline.pretrain_dataset(src, SMALL, 4, seed="0")
    with pytest.raises(ValueError, match="global_batch_size must be a positive int"):
        pipeline.pretrain_dataset(src, SMALL, 0)
    with pytest.raises(ValueError, match="batch_size"):
        pipeline.eval_dataset(src, 16, batch_size=0)
