"""Divergence, with real training processes and the --on_nonfinite policy.

- stop (default): a learning rate so large that the loss becomes NaN. The run ends with one line
  `error: training diverged: ... at step N (--on_nonfinite=stop); the last good checkpoint is
  step N-1 ...`, exit code 1, and that checkpoint intact (checksum, finite) and loadable: the
  rollback run below restores it.
- rollback, persistent divergence (same learning rate, same --workdir): restores the last good
  checkpoint, skips the batch, diverges again; after 3 rollbacks it stops as above, the
  checkpoint still byte-identical.
- rollback, transient fault (test-only hook SSLHSIC_FAULT_NONFINITE_STEP=5 sets the stem
  convolution's kernel to NaN before step 5): rolls back to step 4 once and finishes, with
  `rollbacks` and `skipped_batches` in results.json and `data_offset` in later checkpoints. Where
  the NaN reaches the loss, step 5 diverges and one batch is skipped; where a fused BatchNorm +
  ReLU kernel (oneDNN) maps the NaN activations to 0, the loss stays finite and the guard's weight
  check at the interval's end (step 6) finds the NaN kernel: two batches are skipped. Both are
  the guard working; the test reads which happened from the log.
"""

import json
import re

import pytest

from tests.faults import scripts

pytestmark = [pytest.mark.faults, pytest.mark.slow]

HUGE_LR = ["--config.optimizer.name=sgd", "--config.optimizer.base_learning_rate=1e30",
           "--config.optimizer.warmup_fraction=0.0"]


class _Background:
    def __init__(self, proc, log):
        self.proc, self.log = proc, log

    def result(self):
        code = self.proc.wait(timeout=scripts.TIMEOUT)
        return code, self.log.read_text()


@pytest.fixture(scope="module")
def transient(tiny_npz, tmp_path_factory):
    """The transient-fault rollback run, started first so it overlaps the stop test."""
    root = tmp_path_factory.mktemp("transient")
    args = scripts.tiny_args(tiny_npz, root / "run", total_steps=8, every=2,
                             extra=["--on_nonfinite=rollback", "--config.export.saved_model=False"])
    proc = scripts.start("pretrain", args, env={"SSLHSIC_FAULT_NONFINITE_STEP": "5"},
                         stderr_path=root / "stderr.log")
    yield root / "run", _Background(proc, root / "stderr.log")
    if proc.poll() is None:
        proc.kill()


def _checkpoint_files(workdir):
    out = {}
    for folder in sorted((workdir / "checkpoints").iterdir()):
        out[folder.name] = {f.name: f.read_bytes() for f in folder.iterdir()}
    return out


def test_stop_then_rollback_exhausted_keep_the_last_good_checkpoint(tiny_npz, tmp_path, faults,
                                                                    transient):
    workdir = tmp_path / "diverging"
    args = scripts.tiny_args(tiny_npz, workdir, total_steps=4, every=1, extra=HUGE_LR)

    faults.inject("divergence (huge learning rate), --on_nonfinite=stop")
    stop = scripts.run("pretrain", args)
    line = scripts.assert_user_error(stop, "training diverged:", "(--on_nonfinite=stop)",
                                     "resume with --on_nonfinite=rollback")
    m = re.search(r"loss=(nan|inf|-inf).* at step (\d+) .*the last good checkpoint is step (\d+)", line)
    assert m, line
    diverged, last_good = int(m.group(2)), int(m.group(3))
    assert last_good == diverged - 1 >= 1
    names = sorted(p.name for p in (workdir / "checkpoints").iterdir())
    assert names == [f"ckpt-{s:09d}" for s in range(max(1, last_good - 2), last_good + 1)]
    from sslhsic_tf.training.checkpoint import CheckpointManager

    manager = CheckpointManager(workdir / "checkpoints")
    assert manager.latest_step() == last_good and manager.verify(last_good) is None
    assert scripts.all_finite(scripts.load_weights(
        workdir / "checkpoints" / f"ckpt-{last_good:09d}" / "model.weights.h5"))
    before = _checkpoint_files(workdir)
    faults.survive("divergence (huge learning rate), --on_nonfinite=stop")

    # The same run with the rollback policy: restores (loads) the last good checkpoint each time.
    faults.inject("divergence (huge learning rate), --on_nonfinite=rollback", 4)
    rollback = scripts.run("pretrain", args + ["--on_nonfinite=rollback"])
    scripts.assert_user_error(rollback, "training diverged:",
                              "(--on_nonfinite=rollback, 3 rollbacks used)",
                              f"the last good checkpoint is step {last_good}")
    assert rollback.stderr.count(f"rolled back to the checkpoint of step {last_good}") == 3
    assert _checkpoint_files(workdir) == before  # byte-identical, nothing newer
    faults.survive("divergence (huge learning rate), --on_nonfinite=rollback", 4)


def test_transient_divergence_is_rolled_back_and_the_run_finishes(transient, faults):
    faults.inject("transient non-finite weights (injected), --on_nonfinite=rollback")
    workdir, background = transient
    code, stderr = background.result()
    assert code == 0, stderr[-3000:]
    assert "fault injection (SSLHSIC_FAULT_NONFINITE_STEP)" in stderr
    found = re.search(r"non-finite (.*) at step (\d+): rolling back to the checkpoint of step 4", stderr)
    assert found, stderr[-3000:]
    what, diverged = found.group(1), int(found.group(2))
    if diverged == 5:  # the NaN reached the logged values
        assert "loss=nan" in what
    else:  # the loss stayed finite; the weight check at the interval's end found the kernel
        assert diverged == 6 and what.startswith("weight stem_conv/kernel=nan"), what
    skipped = diverged - 4
    assert (f"rolled back to the checkpoint of step 4; training goes on with global batch "
            f"{4 + skipped}") in stderr
    assert stderr.count("rolling back") == 1
    results = json.loads((workdir / "results.json").read_text())
    assert results["rollbacks"] == 1 and results["skipped_batches"] == skipped
    # --config.export.saved_model=False: the .keras files only, no SavedModel.
    assert results["export_path"] == str(workdir / "encoder.keras")
    assert (workdir / "model.keras").is_file() and not (workdir / "export").exists()
    state = json.loads((workdir / "checkpoints" / "ckpt-000000008" / "state.json").read_text())
    assert state["step"] == 8 and state["data_offset"] == skipped
    assert scripts.all_finite(scripts.load_weights(
        workdir / "checkpoints" / "ckpt-000000008" / "model.weights.h5"))
    rows = (workdir / "train_log.csv").read_text().splitlines()[1:]
    assert [r.split(",")[0] for r in rows] == ["0", "1", "2", "3"]  # each interval once
    assert "nan" not in ",".join(rows).lower()
    faults.survive("transient non-finite weights (injected), --on_nonfinite=rollback")
