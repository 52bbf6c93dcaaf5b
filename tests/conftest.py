"""Test-session set-up: TensorFlow backend, two logical CPU devices, shared data paths.

The JAX backend is exercised in separate processes (`tests/helpers.py: run_jax`), because Keras
picks its backend once, at import.
"""

import os
import pathlib
import shutil
import tempfile

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The JAX processes of one test run share a persistent compilation cache, so that what one of
# them compiled (initialisers, identical steps) the others load instead of compiling again; the
# pytest process that started the run (the parent of xdist's workers) removes it at the end.
_RUN_PID = os.getppid() if os.environ.get("PYTEST_XDIST_WORKER") else os.getpid()
JAX_CACHE = os.path.join(tempfile.gettempdir(), f"sslhsic_tf_tests_jax_cache_{_RUN_PID}")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", JAX_CACHE)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
# The tests' XLA programs (JAX processes, TensorFlow's jit_compile step) are small and run a few
# times: LLVM's optimisation passes cost more than they save. Level 0 changes the machine code,
# not the computation. Measured on the JAX test files (-n 2, idle): 423 s -> 327 s.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip()

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from tests import helpers  # noqa: E402

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


#: Set by .ci/run: a test that needs the full data sets then fails instead of being skipped,
#: so nothing can quietly stop running where the data is present.
REQUIRE_SHARED_DATA = os.environ.get("SSLHSIC_REQUIRE_SHARED_DATA", "") not in ("", "0")


@pytest.fixture(scope="session")
def shared_data():
    """The full data sets (`../shared/data`: the CIFAR-10 JPEG archive, the original-pixel
    subset, Fashion-MNIST IDX files), which a user's clone does not have: the tests that need
    them are skipped with the reason when they are absent (failed under
    SSLHSIC_REQUIRE_SHARED_DATA=1, as in CI). Every other real-data test reads the embedded demo
    subset (`sslhsic_tf/data/demo_data/`)."""
    if not (SHARED_DATA / "cifar10").is_dir():
        message = (
            f"needs the full CIFAR-10 / Fashion-MNIST copies, not found at {SHARED_DATA}; set "
            "SSLHSIC_SHARED_DATA=DIR (a folder with cifar10/ and fashion_mnist/) to run it"
        )
        if REQUIRE_SHARED_DATA:
            pytest.fail(message + " (required: SSLHSIC_REQUIRE_SHARED_DATA is set)")
        pytest.skip(message)
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


def pytest_collection_modifyitems(config, items):
    """Files with a `slow` test run first: pytest-xdist (`--dist loadfile`) hands out files in
    collection order, and a long file handed out last would leave the other worker idle."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)  # stable: order kept within each


# The fault ledger (tests/faults): each pytest-xdist worker hands its counts to the controller,
# which prints the sum ("faults: N injected, M survived") at the end of the run. The controller
# (or a run without workers) removes the shared JAX compilation cache.
def pytest_sessionfinish(session):
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["faults"] = helpers.FAULTS.as_dict()
    else:
        shutil.rmtree(JAX_CACHE, ignore_errors=True)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    counts = getattr(node, "workeroutput", {}).get("faults")
    if counts:
        helpers.FAULTS.add(counts)


def pytest_terminal_summary(terminalreporter):
    if hasattr(terminalreporter.config, "workeroutput"):
        return
    ledger = helpers.FAULTS
    injected, survived = sum(ledger.injected.values()), sum(ledger.survived.values())
    if not injected:
        return
    terminalreporter.write_sep("-", "fault injection")
    terminalreporter.write_line(f"faults: {injected} injected, {survived} survived")
    for kind in sorted(ledger.injected):
        lost = ledger.injected[kind] - ledger.survived[kind]
        if lost:
            terminalreporter.write_line(f"  NOT survived: {kind} ({lost} of {ledger.injected[kind]})")
