"""Running the real scripts (`python -m sslhsic_tf.<script> ...`) as separate processes.

Each script runs in its own process, forked from a server process that has imported TensorFlow,
Keras and the library once (`multiprocessing`'s forkserver, preloading `tests.faults.preload`):
the child sets `sys.argv`, runs the script's module as `__main__` and exits with its exit code,
stdout and stderr going to files, exactly as `python -m` would, minus ~8 s of imports per run.
Calls whose environment must be in place at interpreter start (`PYTHONPATH`) get a fresh
interpreter (`subprocess`).
"""

import concurrent.futures
import glob
import logging
import multiprocessing
import os
import runpy
import subprocess
import sys
import tempfile
import time
import traceback

import h5py
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY_EXAMPLES = 64  # images per split of the tiny subset: 2 global batches of 32
TIMEOUT = 420
_RUNTIME_ENV = ("SSLHSIC_FAULT_CHECKPOINT_DELAY", "SSLHSIC_FAULT_NONFINITE_STEP")
_SERVER = None


def tiny_args(npz, workdir, *, total_steps=8, every=2, extra=()):
    """Flags of a tiny deterministic pretraining run on the real subset `npz` (no evaluation)."""
    return [
        f"--workdir={workdir}",
        "--config.model.depth=10",  # one block per stage: half the tracing of a ResNet-18
        "--config.model.width_multiplier=0.125",
        "--config.batch_size=32",
        f"--config.total_steps={total_steps}",
        f"--config.checkpoint_every_steps={every}",
        f"--config.data.train=cifar10_lossless:{npz}:train",
        f"--config.data.test=cifar10_lossless:{npz}:test",
        "--noevaluate",
        "--verbose=0",
        "--deterministic",
        # float32 whatever the CPU kind (the demo's "auto" may mean an XLA compile per process);
        # the auto choice is tested in tests/training/test_precision.py and test_knn_monitor.py
        "--config.mixed_precision=float32",
        *extra,
    ]


def _env(extra=None):
    env = dict(os.environ)
    env.update({"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ROOT,
                "PYTHONUNBUFFERED": "1"})
    for key in _RUNTIME_ENV:
        env.pop(key, None)
    env.update(extra or {})
    return env


def _server():
    """The forkserver context, its server started on first use with the environment `_env()`
    gives a script."""
    global _SERVER
    if _SERVER is None:
        from multiprocessing import forkserver

        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["tests.faults.preload"])
        saved = dict(os.environ)
        os.environ.update({k: v for k, v in _env().items() if k != "PYTHONPATH"})
        try:
            forkserver.ensure_running()
        finally:
            os.environ.clear()
            os.environ.update(saved)
        _SERVER = context
    return _SERVER


def _script_main(script, args, env, stdout_path, stderr_path):
    """In the forked child: `python -m sslhsic_tf.<script> args` with its exit code."""
    for key in _RUNTIME_ENV:
        os.environ.pop(key, None)
    os.environ.update(env)
    os.chdir(ROOT)
    for fd, path in ((1, stdout_path), (2, stderr_path)):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(target, fd)
        os.close(target)
    sys.argv = [f"sslhsic_tf.{script}", *args]
    code = 0
    try:
        runpy.run_module(f"sslhsic_tf.{script}", run_name="__main__", alter_sys=True)
    except SystemExit as e:  # what the interpreter does with sys.exit(code)
        if e.code is None:
            code = 0
        elif isinstance(e.code, int):
            code = e.code
        else:
            print(e.code, file=sys.stderr)
            code = 1
    except BaseException:  # an uncaught exception: the traceback and exit code 1
        traceback.print_exc()
        code = 1
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


class Process:
    """A started script, with the part of `subprocess.Popen`'s interface the tests use."""

    def __init__(self, script, args, env, stdout_path, stderr_path):
        self._process = _server().Process(
            target=_script_main, args=(script, [str(a) for a in args], dict(env or {}),
                                       str(stdout_path), str(stderr_path)))
        self._process.start()
        self.pid = self._process.pid

    @property
    def returncode(self):
        return self._process.exitcode

    def poll(self):
        return self._process.exitcode

    def wait(self, timeout=None):
        self._process.join(timeout)
        if self._process.exitcode is None:
            raise subprocess.TimeoutExpired(self._process.name, timeout)
        return self._process.exitcode

    def send_signal(self, signum):
        os.kill(self.pid, signum)

    def kill(self):
        self._process.kill()
        self._process.join()


def start(script, args, *, env=None, stderr_path=None):
    """Starts `python -m sslhsic_tf.<script> args` (stderr to `stderr_path`); returns a
    `Process` (poll, wait, send_signal, kill, returncode)."""
    env = dict(env or {})
    if "PYTHONPATH" in env:
        stderr = open(stderr_path, "w") if stderr_path else subprocess.DEVNULL
        try:
            return subprocess.Popen(
                [sys.executable, "-m", f"sslhsic_tf.{script}", *map(str, args)],
                stdout=subprocess.DEVNULL, stderr=stderr, env=_env(env), cwd=ROOT)
        finally:
            if stderr_path:
                stderr.close()
    return Process(script, args, env, os.devnull, stderr_path or os.devnull)


def run(script, args, *, env=None, timeout=TIMEOUT):
    """Runs `python -m sslhsic_tf.<script> args` to the end; returns a CompletedProcess (text)."""
    env = dict(env or {})
    command = [sys.executable, "-m", f"sslhsic_tf.{script}", *map(str, args)]
    if "PYTHONPATH" in env:
        return subprocess.run(command, capture_output=True, text=True, env=_env(env), cwd=ROOT,
                              timeout=timeout)
    with tempfile.TemporaryDirectory() as folder:
        out, err = os.path.join(folder, "stdout"), os.path.join(folder, "stderr")
        proc = Process(script, args, env, out, err)
        try:
            code = proc.wait(timeout)
        finally:
            if proc.poll() is None:
                proc.kill()
        with open(out) as f_out, open(err) as f_err:
            return subprocess.CompletedProcess(command, code, f_out.read(), f_err.read())


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
