"""`data.arrays`: the CIFAR-10 archive read without TensorFlow (tarfile + pillow) gives the
images and labels `sources` gives (decoded by TensorFlow), in the same order."""

import numpy as np
import pytest

from sslhsic_tf.data import arrays, sources


@pytest.mark.parametrize("split", ["train", "test"])
def test_demo_archive_matches_the_tensorflow_reader(split):
    images, labels = arrays.cifar10_archive_arrays(arrays.DEMO_ARCHIVE, split)
    reference = sources.demo(split)
    assert images.dtype == np.uint8 and images.shape == reference.images.shape
    np.testing.assert_array_equal(labels, reference.labels)
    diff = np.abs(images.astype(np.int16) - reference.images.astype(np.int16))
    # Two JPEG decoders (libjpeg in pillow, TensorFlow's) round the inverse DCT differently.
    assert diff.max() <= 8 and diff.mean() < 2.0, (diff.max(), diff.mean())


def test_bad_split_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match=r"split must be 'train' or 'test' \(or a tuple of them\); "
                                         "got 'val'"):
        arrays.cifar10_archive_arrays(arrays.DEMO_ARCHIVE, "val")
    with pytest.raises(ValueError, match="num_workers must be an integer >= 0; got -1"):
        arrays.cifar10_archive_arrays(arrays.DEMO_ARCHIVE, "test", num_workers=-1)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        arrays.cifar10_archive_arrays(tmp_path / "none.tar.gz")


def test_both_splits_in_one_pass_with_worker_processes():
    train, test = arrays.cifar10_archive_arrays(arrays.DEMO_ARCHIVE, ("train", "test"),
                                                num_workers=2)
    for (images, labels), split in ((train, "train"), (test, "test")):
        single_images, single_labels = arrays.cifar10_archive_arrays(arrays.DEMO_ARCHIVE, split)
        np.testing.assert_array_equal(images, single_images)  # same decoder, same bytes
        np.testing.assert_array_equal(labels, single_labels)
