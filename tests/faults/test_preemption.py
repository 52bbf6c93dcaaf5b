"""Preemption: a REAL training process (`python -m sslhsic_tf.pretrain`) is killed with SIGKILL
three times: at a random moment early in the run, in the middle of a checkpoint write (the
test-only hook SSLHSIC_FAULT_CHECKPOINT_DELAY holds the write between its files and its rename),
and at a random moment after a later checkpoint. Restarted each time with the same --workdir,
the run ends with exactly the weights of an uninterrupted run (with --deterministic; no
tolerance needed): online and EMA target networks, heads, learned bandwidth, BatchNorm
statistics, every optimizer's slots and step counter (so the schedules and per-step seeds), and
the same train_log.csv rows (data position, nothing lost or repeated).
"""

import glob
import json
import os
import random
import signal

import numpy as np
import pytest

from tests.faults import scripts

pytestmark = [pytest.mark.faults, pytest.mark.slow]

TOTAL, EVERY = 8, 2


def _complete(checkpoints):
    return sorted(int(os.path.basename(p)[5:]) for p in glob.glob(str(checkpoints / "ckpt-*"))
                  if ".tmp-" not in p and os.path.isfile(os.path.join(p, "state.json")))


def _kill(proc):
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL


def test_sigkilled_run_resumes_to_the_weights_of_an_uninterrupted_run(tiny_npz, tmp_path, faults):
    rng = random.Random(20240601)
    reference_dir, run_dir = tmp_path / "uninterrupted", tmp_path / "killed"
    checkpoints = run_dir / "checkpoints"
    reference = scripts.start("pretrain", scripts.tiny_args(
        tiny_npz, reference_dir, total_steps=TOTAL, every=EVERY,
        extra=["--config.export.saved_model=False"]),  # its checkpoints are what is compared
                              stderr_path=tmp_path / "reference.log")
    logs = []

    def launch(env=None):
        logs.append(tmp_path / f"attempt{len(logs)}.log")
        return scripts.start("pretrain", scripts.tiny_args(tiny_npz, run_dir, total_steps=TOTAL,
                                                           every=EVERY),
                             env=env, stderr_path=logs[-1])

    kills = []
    try:
        # 1. A random moment early on (start-up, data, model build or the first steps).
        proc = launch()
        assert scripts.wait_for(run_dir / "config.json", proc, timeout=120)
        delay = rng.uniform(0.5, 5.0)
        try:
            proc.wait(timeout=delay)
        except Exception:  # still running, as expected
            pass
        assert proc.poll() is None, "the run ended before the first kill"
        _kill(proc)
        faults.inject("SIGKILL at a random moment early in the run")
        kills.append(f"early, after {delay:.2f} s")

        # 2. In the middle of writing the next checkpoint: its files are in ckpt-N.tmp-PID/.
        done = _complete(checkpoints)
        target = (done[-1] if done else 0) + EVERY
        assert target < TOTAL
        proc = launch({"SSLHSIC_FAULT_CHECKPOINT_DELAY": f"{target}:600"})
        partial = checkpoints / f"ckpt-{target:09d}.tmp-*"
        assert scripts.wait_for(partial, proc), "the checkpoint write never started"
        _kill(proc)
        faults.inject("SIGKILL during a checkpoint write")
        kills.append(f"during the write of ckpt-{target}")
        assert glob.glob(str(partial)) and target not in _complete(checkpoints)
        assert max(_complete(checkpoints), default=0) == target - EVERY  # the latest complete
        # The run's cost so far, as the processes before recorded it; add 10 CPU-hours that
        # the next processes must carry on (the weights' checksum does not cover state.json).
        earlier_cost = {"train_cpu_seconds": 0.0, "train_wall_seconds": 0.0}
        if target - EVERY:
            state_path = checkpoints / f"ckpt-{target - EVERY:09d}" / "state.json"
            state = json.loads(state_path.read_text())
            earlier_cost = {k: state[k] for k in earlier_cost}
            assert earlier_cost["train_wall_seconds"] > 0 and earlier_cost["train_cpu_seconds"] > 0
            state["train_cpu_seconds"] += 36000.0
            state["train_wall_seconds"] += 36000.0
            state_path.write_text(json.dumps(state))

        # 3. A random moment after the next checkpoint (mid-interval, or the write after it).
        proc = launch()
        assert scripts.wait_for(checkpoints / f"ckpt-{target + EVERY:09d}", proc)
        delay = rng.uniform(0.0, 1.0)
        try:
            proc.wait(timeout=delay)
        except Exception:
            pass
        if proc.poll() is None:
            _kill(proc)
            faults.inject("SIGKILL at a random moment after a checkpoint")
            kills.append(f"{delay:.2f} s after ckpt-{target + EVERY}")

        # The last restart runs to the end.
        final = launch()
        assert final.wait(timeout=scripts.TIMEOUT) == 0, logs[-1].read_text()[-3000:]
        # The uninterrupted run is complete once its last checkpoint is (export not needed).
        assert scripts.wait_for(reference_dir / "checkpoints" / f"ckpt-{TOTAL:09d}", reference), (
            (tmp_path / "reference.log").read_text()[-3000:])
    finally:
        for p in (reference, proc):
            if p.poll() is None:
                p.kill()
                p.wait()

    # Restarts cleaned up the killed write and resumed (not restarted from scratch).
    assert "removed 1 unfinished checkpoint write(s)" in logs[2].read_text()
    assert not glob.glob(str(checkpoints / "*.tmp-*"))
    results = json.loads((run_dir / "results.json").read_text())
    assert results["resumed_from_step"] >= target, kills
    # The run's cost adds up every process that trained it (the fourth process's own time too).
    if target - EVERY:
        for key in ("train_cpu_seconds", "train_wall_seconds"):
            assert results[key] > earlier_cost[key] + 36000.0, (key, results[key], earlier_cost)
    assert results["train_cpu_seconds"] > 0 and results["train_wall_seconds"] > 0

    # The same final state, bit for bit, as the uninterrupted run.
    final_name = f"ckpt-{TOTAL:09d}/model.weights.h5"
    ours = scripts.load_weights(checkpoints / final_name)
    theirs = scripts.load_weights(reference_dir / "checkpoints" / final_name)
    assert sorted(ours) == sorted(theirs)
    assert any("optimizer/optimizers/lars" in k for k in ours)  # the network optimizer
    assert any("optimizer/optimizers/adam" in k for k in ours)  # bandwidth and probe optimizers
    assert len(ours) > 250  # every array of the ResNet-10 run: networks, heads, optimizer slots
    different = [k for k in ours if not np.array_equal(ours[k], theirs[k])]
    assert not different, f"kills: {kills}; arrays that differ: {different[:10]}"
    assert scripts.all_finite(ours)
    state = json.loads((checkpoints / f"ckpt-{TOTAL:09d}" / "state.json").read_text())
    assert state["step"] == TOTAL and state["data_offset"] == 0
    # Every interval logged once, with the same values (data position and schedules resumed).
    assert (run_dir / "train_log.csv").read_text() == (reference_dir / "train_log.csv").read_text()
    # The resumed run also finished its export.
    assert os.path.isfile(os.path.join(results["export_path"], "saved_model.pb"))
    for kind in list(faults.injected):
        if kind.startswith("SIGKILL"):
            faults.survive(kind, faults.injected[kind] - faults.survived[kind])
