"""`benchmarks/torch_curves.py` outside PyTorch: its schedule is ours, its curves read and plot."""

import json

import numpy as np
import pytest

from benchmarks import torch_curves
from sslhsic_tf import optim


@pytest.mark.parametrize("warmup", [0, 50])
def test_learning_rate_is_our_warmup_cosine(warmup):
    """The PyTorch side must step on our schedule, or the curves compare two recipes."""
    ours = optim.WarmupCosine(0.12, warmup_steps=warmup, total_steps=1000)
    for step in (0, 1, 25, 49, 50, 51, 400, 999, 1000, 1200):
        assert torch_curves.learning_rate(step, 1000, warmup, 0.12) == pytest.approx(
            float(ours(step)), rel=1e-5, abs=1e-8), step


def _torch_run(folder, points, method="simclr", epochs=None):
    """A torch run's folder; `epochs`: the schedule's length in its recipe (None: absent)."""
    folder.mkdir()
    recipe = {"method": method, "optimizer": "sgd", "base_learning_rate": 0.12}
    if epochs is not None:
        recipe["epochs"] = epochs
    state = {"method": f"torch+lightly {method}", "step": 390, "cpu_seconds": 7200.0,
             "points": [{"epoch": e, "step": int(e * 195), "knn_top1": k} for e, k in points],
             "recipe": recipe}
    (folder / "curve.json").write_text(json.dumps(state))
    return str(folder)


def test_plot_tables_and_draws_runs_side_by_side(tmp_path, capsys):
    a = _torch_run(tmp_path / "a", [(2, 0.512), (4, 0.561)])
    b = _torch_run(tmp_path / "b", [(2, 0.478), (4, 0.502), (6, 0.497)], method="byol")
    label, points, cpu, recipe, final = torch_curves.read_curve(a + ":SGD")
    assert label == "SGD" and points == [(2, 0.512), (4, 0.561)] and cpu == 7200.0
    assert final is None  # a torch run has no whole-test-split evaluation
    assert recipe["optimizer"] == "sgd"
    assert torch_curves.read_curve(b)[0] == "torch+lightly byol"  # no label: the run's method
    out = tmp_path / "plots"
    torch_curves.main(["plot", a + ":SGD", b + ":LARS", "--out", str(out), "--name", "pair"])
    table = capsys.readouterr().out.splitlines()
    assert table[0] == "| run | epoch 2 | epoch 4 | epoch 6 | end (all test images) | CPU-h |"
    assert table[2] == "| SGD | 51.2 | 56.1 |  |  | 2.0 |"
    assert table[3] == "| LARS | 47.8 | 50.2 | 49.7 |  | 2.0 |"
    saved = json.loads((out / "pair.json").read_text())
    assert [s["label"] for s in saved] == ["SGD", "LARS"]
    assert np.allclose(saved[1]["points"], [[2, 0.478], [4, 0.502], [6, 0.497]])
    assert (out / "pair.png").stat().st_size > 10_000


def test_schedule_length_is_read_from_either_side(tmp_path):
    """The plot's x axis names the schedule the runs share (a 1-epoch width run is not a
    100-epoch one)."""
    without = _torch_run(tmp_path / "without", [(1, 0.27)])
    assert torch_curves.schedule_epochs(without + ":label") is None  # a recipe without epochs
    theirs = _torch_run(tmp_path / "theirs", [(1, 0.27)], epochs=1.0)
    ours = tmp_path / "ours"
    ours.mkdir()
    (ours / "config.json").write_text(json.dumps({"config": {"epochs": 100.0}}))
    assert torch_curves.schedule_epochs(theirs) == 1.0
    assert torch_curves.schedule_epochs(f"{ours}:BYOL, ours") == 100.0


def test_train_flags_are_checked_before_anything_loads(capsys):
    with pytest.raises(SystemExit):
        torch_curves.main(["train", "--method=simclr", "--workdir=x", "--archive=y",
                           "--epochs=0"])
    assert "--epochs must be > 0; got 0.0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        torch_curves.main(["train", "--method=byol", "--workdir=x", "--archive=y",
                           "--save_every_steps=-1"])
    assert "--save_every_steps must be >= 0 (0: at each epoch's end); got -1" in capsys.readouterr().err


def test_a_curve_is_read_back_from_an_earlier_plot(tmp_path, capsys):
    """`FILE.json#LABEL` takes a curve from a plot's JSON, so a run whose folder is gone can
    still be drawn beside a new one, with its schedule, CPU seconds and end point."""
    theirs = _torch_run(tmp_path / "theirs", [(2, 0.478), (4, 0.502)], epochs=100.0)
    first = tmp_path / "first"
    torch_curves.main(["plot", theirs + ":LARS", "--out", str(first), "--name", "pair"])
    saved = str(first / "pair.json")
    assert json.loads((first / "pair.json").read_text())[0]["schedule_epochs"] == 100.0
    label, points, cpu, recipe, final = torch_curves.read_curve(saved + "#LARS:before")
    assert label == "before" and points == [(2, 0.478), (4, 0.502)] and cpu == 7200.0
    assert recipe["optimizer"] == "sgd" and final is None
    assert torch_curves.read_curve(saved + "#LARS")[0] == "LARS"
    assert torch_curves.schedule_epochs(saved + "#LARS") == 100.0
    capsys.readouterr()
    torch_curves.main(["plot", saved + "#LARS:before", theirs + ":again", "--out",
                       str(tmp_path / "second"), "--name", "redrawn"])
    table = capsys.readouterr().out.splitlines()
    assert table[2] == "| before | 47.8 | 50.2 |  | 2.0 |"
    assert table[3] == "| again | 47.8 | 50.2 |  | 2.0 |"
    with pytest.raises(ValueError, match=r"has no curve labelled 'SGD'; its labels: \['LARS'\]"):
        torch_curves.read_curve(saved + "#SGD")


def test_a_zoo_entrys_curve_is_read_from_its_manifest_record():
    """`zoo:NAME[:label]` draws a shipped entry's kNN monitor beside runs, with its end point
    (kNN k = 200 on all test images), CPU-hours, optimiser and schedule length."""
    from sslhsic_tf import zoo

    name = "ssl_hsic_no_target_resnet18x0.25_cifar10"
    training = zoo.info(name)["training"]
    label, points, cpu, recipe, final = torch_curves.read_curve(f"zoo:{name}:LARS, 90 epochs")
    assert label == "LARS, 90 epochs" and len(points) == len(training["knn_curve"]["points"]) > 10
    assert points[-1] == (pytest.approx(90.0, abs=0.5), pytest.approx(0.676, abs=0.001))
    assert final == (90, pytest.approx(0.672, abs=0.001))  # the manifest's kNN, k = 200
    assert cpu == pytest.approx(4.94 * 3600) and recipe["name"] == "lars"
    assert torch_curves.read_curve(f"zoo:{name}")[0] == name
    assert torch_curves.schedule_epochs(f"zoo:{name}:label") == 90.0
    with pytest.raises(ValueError, match="records no kNN curve"):
        torch_curves.read_curve("zoo:ssl_hsic_resnet18_cifar10_150ep")
