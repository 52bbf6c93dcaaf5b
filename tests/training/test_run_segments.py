"""A run trained by several processes records each one (`segments`: steps, machine, backend,
precision, CPU and wall seconds) in its checkpoints, results.json, zoo entry and card, so a run
resumed on another machine, where `mixed_precision="auto"` means another policy, says which
steps trained how; the resumed process warns of the change."""

import json
import logging

import pytest

from sslhsic_tf import export, zoo
from sslhsic_tf.zoo import cards
from sslhsic_tf.training import loop
from sslhsic_tf.utils import backend
from tests.helpers import tiny_pretrain_config


def _tiny_config(tmp_path):
    config, _ = tiny_pretrain_config(tmp_path, n_train=256, n_test=64)  # 8 steps an epoch
    config.eval.knn_every_steps = 0
    assert config.mixed_precision == "auto"
    return config


def _rows(segments):
    return [(s["from_step"], s["to_step"], s["policy"]) for s in segments]


@pytest.mark.slow
def test_a_run_resumed_under_another_policy_records_each_process(tmp_path, monkeypatch, caplog):
    config = _tiny_config(tmp_path)
    run = tmp_path / "run"
    # The first machine: "auto" means float32; the run stops at step 2 of 4.
    monkeypatch.setattr(backend, "auto_precision", lambda flags=None: ("float32", False))
    config.stop_after_epochs = 0.25
    first = loop.pretrain(config, str(run), evaluate=False, verbose=0)
    assert _rows(first["segments"]) == [(0, 2, "float32")]
    state = json.loads((run / "checkpoints" / "ckpt-000000002" / "state.json").read_text())
    assert _rows(state["segments"]) == [(0, 2, "float32")]
    assert state["segments"][0]["machine"] == backend.machine()
    assert state["segments"][0]["backend"] == "tensorflow"

    # Resumed where "auto" means bf16: the second process is its own segment, and warns.
    monkeypatch.setattr(backend, "auto_precision", lambda flags=None: ("mixed_bfloat16", False))
    config.stop_after_epochs = 0.0
    with caplog.at_level(logging.WARNING, logger="sslhsic_tf"):
        second = loop.pretrain(config, str(run), evaluate=False, verbose=0)
    assert _rows(second["segments"]) == [(0, 2, "float32"), (2, 4, "mixed_bfloat16")]
    assert ("trains under the precision policy mixed_bfloat16; steps 0-2 of the run trained "
            "under float32") in caplog.text
    # The processes' own seconds add up to the run's (resumes included).
    for key in ("cpu", "wall"):
        parts = sum(s[f"{key}_seconds"] for s in second["segments"])
        assert parts == pytest.approx(second[f"train_{key}_seconds"], abs=1.0), key
    assert second["precision"]["policy"] == "mixed_bfloat16"  # the last process's

    # The zoo entry keeps the segments; its card names the steps of each policy.
    (tmp_path / "zoo").mkdir()
    export.export_run(str(run), "resumed_run", zoo=True, zoo_root=str(tmp_path / "zoo"))
    training = zoo.info("resumed_run", root=str(tmp_path / "zoo"))["training"]
    assert _rows(training["segments"]) == _rows(second["segments"])
    line = [x for x in cards.card("resumed_run", root=str(tmp_path / "zoo")).splitlines()
            if x.startswith("Training:")][0]
    cpu = backend.machine()["cpu"]
    assert line.endswith(f", steps 0-2 on {cpu} (float32), 2-4 on {cpu} (mixed_bfloat16)."), line


def test_checkpoints_from_before_segments_count_as_one_unrecorded_process(caplog):
    """A run whose checkpoints predate `segments` resumes with one row for the steps before,
    its cost kept, its machine and policy unknown (and no warning: nothing to compare)."""
    process = {"from_step": 1372, "machine": backend.machine(), "backend": "tensorflow",
               "policy": "float32", "jit_compile": False, "replicas": 1}
    state = {"step": 1372, "train_cpu_seconds": 9000.0, "train_wall_seconds": 5000.0}
    with caplog.at_level(logging.WARNING, logger="sslhsic_tf"):
        rows = loop._segments_before(state, process)
    assert rows == [{"from_step": 0, "to_step": 1372, "machine": None, "policy": None,
                     "cpu_seconds": 9000.0, "wall_seconds": 5000.0}]
    assert not caplog.text
    assert loop._segments_before(None, process) == []
    assert cards._where({"segments": rows + [{**process, "to_step": 19600}]}) == (
        f", steps 0-1372 on a machine not recorded, 1372-19600 on {process['machine']['cpu']} "
        "(float32)")
