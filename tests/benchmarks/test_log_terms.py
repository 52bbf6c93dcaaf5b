"""`benchmarks/log_terms.py`: a run's logged terms against epochs, the kNN gaps left out."""

import json

from benchmarks import log_terms


def _run(folder, rows, checkpoint_every_steps=392):
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(
        {"config": {"batch_size": 256, "epochs": 100.0,
                    "checkpoint_every_steps": checkpoint_every_steps}}))
    state = folder / "checkpoints" / "ckpt-000000784"
    state.mkdir(parents=True)
    (state / "state.json").write_text(json.dumps({"step": 784, "total_steps": 19600}))
    lines = ["epoch,grad_norm,knn_top1,loss"] + [",".join(map(str, r)) for r in rows]
    (folder / "train_log.csv").write_text("\n".join(lines) + "\n")
    return str(folder)


def test_terms_per_epoch_and_last_measured_values(tmp_path, capsys):
    a = _run(tmp_path / "a", [(0, 2.0, "NA", 5.0), (1, 1.5, 0.48, 4.5)])
    label, per_row, terms = log_terms.read_log(a + ":SGD")
    assert label == "SGD" and per_row == 2.0  # 392 steps a row, 196 an epoch
    assert terms["grad_norm"] == [2.0, 1.5] and terms["knn_top1"][1] == 0.48
    b = _run(tmp_path / "b", [(0, 3.0, 0.40, 6.0), (1, 2.5, "NA", 5.5)])
    log_terms.main([a + ":SGD", b, "--terms", "knn_top1,loss,weight_norm",
                    "--out", str(tmp_path / "out"), "--name", "pair"])
    table = capsys.readouterr().out.splitlines()
    assert table[2] == "| SGD | 4.0 | 0.48 | 4.5 | - |"
    assert table[3] == "| b | 4.0 | 0.4 | 5.5 | - |"  # the last value that was measured
    saved = json.loads((tmp_path / "out" / "pair.json").read_text())
    assert saved[1]["terms"]["loss"] == [6.0, 5.5]
    assert (tmp_path / "out" / "pair.png").stat().st_size > 10_000
