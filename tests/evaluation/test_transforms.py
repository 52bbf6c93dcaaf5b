"""Default probe/test transforms: built from the data package's eval configs, exact crops."""

import numpy as np
import pytest
from sslhsic_tf.data.augment import EvalConfig
from sslhsic_tf.data.pipeline import eval_dataset
from sslhsic_tf.data.sources import from_arrays
from sslhsic_tf.evaluation import linear_sgd_evaluate
from sslhsic_tf.evaluation.transforms import (
    CentreCrop,
    PadCropFlip,
    RandomResizedCropFlip,
    eval_transforms,
    resolve_transforms,
)
from sslhsic_tf.utils.random import stateless_seed


def test_pad_crop_flip_is_a_shifted_window_of_the_padded_image():
    images = np.random.default_rng(0).uniform(size=(16, 6, 6, 3)).astype(np.float32)
    out = np.asarray(PadCropFlip(6, 2)(images, seed=stateless_seed(3, 0)))
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)))
    found = set()
    for i in range(16):
        matches = [
            (dy, dx, flip)
            for dy in range(5) for dx in range(5) for flip in (False, True)
            if np.allclose(out[i], (padded[i, dy:dy + 6, dx:dx + 6, :][:, ::-1] if flip else padded[i, dy:dy + 6, dx:dx + 6]), atol=1e-6)
        ]
        assert matches, i
        found.update(matches)
    assert len({m[2] for m in found}) == 2 and len({m[:2] for m in found}) > 4  # flips and shifts vary
    again = np.asarray(PadCropFlip(6, 2)(images, seed=stateless_seed(3, 0)))
    np.testing.assert_array_equal(out, again)


def test_centre_crop_matches_slicing_and_the_eval_pipeline():
    images = np.random.default_rng(1).uniform(size=(3, 8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(CentreCrop(4, 0.5)(images)), images[:, 2:6, 2:6], atol=1e-6)
    assert CentreCrop(8, 1.0)(images) is not None
    np.testing.assert_allclose(np.asarray(CentreCrop(8, 1.0)(images)), images, rtol=0, atol=1e-6)
    # The same pixels as the data pipeline's test images (eval_dataset) for resizing crops.
    for config in (EvalConfig(5, crop_fraction=1.0), EvalConfig(6, crop_fraction=0.75)):
        batches = eval_dataset(from_arrays(images, np.arange(3)), config, batch_size=3)
        expected = np.concatenate([x for x, _ in batches.as_numpy_iterator()])
        got = np.asarray(CentreCrop(config.size, config.crop_fraction)(images))
        np.testing.assert_allclose(got, expected, atol=1e-6)


def test_defaults_follow_the_eval_presets():
    train, test = eval_transforms("auto", 32)
    assert isinstance(train, PadCropFlip) and (train.size, train.padding) == (32, 4) and test is None
    train, test = eval_transforms("auto", 96)
    assert isinstance(train, RandomResizedCropFlip) and train.config.size == 96 and test is None
    train, test = eval_transforms("imagenet", 500)
    assert isinstance(train, RandomResizedCropFlip) and test.name == "centre_crop(size=224, crop_fraction=0.875)"
    train, test = eval_transforms(EvalConfig(8, crop_fraction=1.0, probe_mode="pad_crop", padding=1), 8)
    assert train.name == "pad_crop_flip(size=8, padding=1)" and test is None
    keep = lambda x: x  # noqa: E731
    assert resolve_transforms(keep, None) == (keep, None)
    with pytest.raises(ValueError, match="eval_config.*auto"):
        resolve_transforms("default", None)
    with pytest.raises(TypeError, match="test_transform"):
        resolve_transforms(None, "centre")


def test_sgd_probe_defaults_to_pad_crop_flip(encoder_factory, colour_data):
    record = linear_sgd_evaluate(
        encoder_factory(), colour_data(16, hidden=False), colour_data(8, seed=1, hidden=False), epochs=1,
        batch_size=8, eval_config=EvalConfig(8, crop_fraction=1.0, probe_mode="pad_crop", padding=1),
    )
    assert record["train_transform"] == "pad_crop_flip(size=8, padding=1)"
    assert record["test_transform"] == "identity"
