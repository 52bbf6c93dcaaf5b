"""Test-session set-up: TensorFlow backend, two logical CPU devices, shared data paths.

The JAX backend is exercised in separate processes (`tests/helpers.py: run_jax`), because Keras
picks its backend once, at import.
"""

import os
import pathlib

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

# Two logical CPU devices give a real MirroredStrategy on a CPU-only machine. This must run
# before TensorFlow initialises its devices, hence here, at collection time.
_cpus = tf.config.list_physical_devices("CPU")
try:
    tf.config.set_logical_device_configuration(
        _cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2
    )
except RuntimeError:  # already initialised (e.g. a plugin touched TF first)
    pass

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = pathlib.Path(os.environ.get("SSLHSIC_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data():
    """`../shared/data` (CIFAR-10 archive, lossless subset, Fashion-MNIST IDX files)."""
    if not (SHARED_DATA / "cifar10").is_dir():
        pytest.fail(
            f"real test data not found at {SHARED_DATA}; put the shared/ folder beside the "
            "checkout or set SSLHSIC_SHARED_DATA"
        )
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _clear_keras_session():
    import keras

    keras.utils.set_random_seed(0)
    yield
    keras.backend.clear_session()


_MIRRORED = []


@pytest.fixture(scope="session")
def mirrored():
    """One MirroredStrategy over the two logical CPUs for the whole session.

    Several MirroredStrategy instances in one process reuse collective instance keys and can
    abort each other's collectives, so every test shares this one.
    """
    if not _MIRRORED:
        _MIRRORED.append(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
    return _MIRRORED[0]
