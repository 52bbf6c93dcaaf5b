"""Running the real scripts (`python -m sslhsic_tf.pretrain ...`) in subprocesses."""

import concurrent.futures
import glob
import os
import subprocess
import sys
import time

import h5py
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY_EXAMPLES = 64  # images per split of the tiny subset: 2 global batches of 32
TIMEOUT = 420


def tiny_args(npz, workdir, *, total_steps=8, every=2, extra=()):
    """Flags of a tiny deterministic pretraining run on the real subset `npz` (no evaluation)."""
    return [
        f"--workdir={workdir}",
        "--config.model.width_multiplier=0.125",
        "--config.batch_size=32",
        f"--config.total_steps={total_steps}",
        f"--config.checkpoint_every_steps={every}",
        f"--config.data.train=cifar10_lossless:{npz}:train",
        f"--config.data.test=cifar10_lossless:{npz}:test",
        "--noevaluate",
        "--verbose=0",
        "--deterministic",
        *extra,
    ]


def _env(extra=None):
    env = dict(os.environ)
    env.update({"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ROOT,
                "PYTHONUNBUFFERED": "1"})
    for key in ("SSLHSIC_FAULT_CHECKPOINT_DELAY", "SSLHSIC_FAULT_NONFINITE_STEP"):
        env.pop(key, None)
    env.update(extra or {})
    return env


def start(script, args, *, env=None, stderr_path=None):
    """Starts `python -m sslhsic_tf.<script> args` (stderr to `stderr_path`); returns the Popen."""
    stderr = open(stderr_path, "w") if stderr_path else subprocess.DEVNULL
    try:
        return subprocess.Popen(
            [sys.executable, "-m", f"sslhsic_tf.{script}", *map(str, args)],
            stdout=subprocess.DEVNULL, stderr=stderr, env=_env(env), cwd=ROOT,
        )
    finally:
        if stderr_path:
            stderr.close()


def run(script, args, *, env=None, timeout=TIMEOUT):
    """Runs `python -m sslhsic_tf.<script> args` to the end; returns the CompletedProcess (text)."""
    return subprocess.run(
        [sys.executable, "-m", f"sslhsic_tf.{script}", *map(str, args)],
        capture_output=True, text=True, env=_env(env), cwd=ROOT, timeout=timeout,
    )


def run_many(calls, workers=2):
    """Runs `[(script, args, env), ...]` two at a time (the machine has 2 cores); results in order."""
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(run, script, args, env=env) for script, args, env in calls]
        return [f.result() for f in futures]


def wait_for(pattern, proc, timeout=TIMEOUT):
    """Polls until a path matching `pattern` exists; False if `proc` ends first or on timeout."""
    end = time.time() + timeout
    while time.time() < end:
        if glob.glob(str(pattern)):
            return True
        if proc.poll() is not None:
            return bool(glob.glob(str(pattern)))
        time.sleep(0.02)
    return False


def error_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def assert_user_error(proc, *fragments, code=1):
    """The process failed with exactly one line `error: ...` (the last of stderr), no traceback,
    exit code `code`, and the line contains every fragment."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == code, f"exit code {proc.returncode}, stderr:\n{proc.stderr[-3000:]}"
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert lines and lines[-1].startswith("error: "), proc.stderr[-3000:]
    assert len(error_lines(proc.stderr)) == 1, proc.stderr[-3000:]
    for fragment in fragments:
        assert fragment in lines[-1], f"{fragment!r} not in {lines[-1]!r}"
    return lines[-1]


def load_weights(path):
    """Every array of a `.weights.h5` file: {h5 path: ndarray}."""
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()])
                     if isinstance(obj, h5py.Dataset) else None)
    return out


def all_finite(weights):
    return all(np.all(np.isfinite(v)) for v in weights.values() if np.asarray(v).dtype.kind == "f")
