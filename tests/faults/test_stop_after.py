"""`--config.stop_after_epochs`: a run stops at a checkpoint of a longer schedule (the learning
rate there is the long schedule's) and, resumed without the stop, ends with exactly the weights
of an uninterrupted run (--deterministic)."""

import csv
import json

import numpy as np
import pytest

from tests.faults import scripts

pytestmark = [pytest.mark.faults, pytest.mark.slow]

TOTAL, EVERY = 8, 2  # 64 images of batch 32: 2 steps per epoch


def _lr(workdir):
    with open(workdir / "train_log.csv", newline="") as f:
        return {int(row["epoch"]): float(row["learning_rate"]) for row in csv.DictReader(f)}


def test_stopped_run_has_the_long_schedule_and_resumes_to_the_uninterrupted_weights(
        tiny_npz, tmp_path):
    reference, stopped = tmp_path / "uninterrupted", tmp_path / "stopped"
    args = lambda workdir, *extra: scripts.tiny_args(  # noqa: E731
        tiny_npz, workdir, total_steps=TOTAL, every=EVERY, extra=list(extra))
    first, full = scripts.run_many([
        ("pretrain", args(stopped, "--config.stop_after_epochs=2"), None),
        ("pretrain", args(reference), None)])
    assert first.returncode == 0, first.stderr[-3000:]
    assert full.returncode == 0, full.stderr[-3000:]
    results = json.loads((stopped / "results.json").read_text())
    assert results["trained_steps"] == 4 and results["total_steps"] == TOTAL
    assert results["export_path"].endswith("encoder.keras")  # no SavedModel before the end
    assert "stopping at step 4 of the 8-step schedule" in first.stderr
    # The summary says what was trained, not the schedule's length.
    assert "2.0 of a 4.0-epoch schedule (4 of 8 steps of 32)" in first.stdout, first.stdout
    assert sorted(p.name for p in (stopped / "checkpoints").iterdir())[-1] == "ckpt-000000004"
    # The schedule is the 8-step one: the logged learning rates (means over each interval) are
    # the uninterrupted run's, whereas a 4-step cosine would be down to a third by interval 1.
    lr_stopped, lr_full = _lr(stopped), _lr(reference)
    assert sorted(lr_stopped) == [0, 1]
    for epoch, value in lr_stopped.items():
        assert value == pytest.approx(lr_full[epoch], rel=1e-6)
    assert lr_stopped[1] > 0.7 * lr_stopped[0]
    # Resumed without the stop, it runs to the end: the weights of the uninterrupted run.
    resumed = scripts.run("pretrain", args(stopped))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads((stopped / "results.json").read_text())["resumed_from_step"] == 4
    assert ", 4.0 epochs (8 steps of 32) in " in resumed.stdout, resumed.stdout
    assert "(resumed at step 4; the whole run " in resumed.stdout, resumed.stdout
    name = f"ckpt-{TOTAL:09d}/model.weights.h5"
    ours = scripts.load_weights(stopped / "checkpoints" / name)
    theirs = scripts.load_weights(reference / "checkpoints" / name)
    assert sorted(ours) == sorted(theirs)
    assert not [k for k in ours if not np.array_equal(ours[k], theirs[k])]
