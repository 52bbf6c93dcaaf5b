"""`benchmarks/zoo_curves.py`: the fits behind the README's "what it would take" figures."""

import argparse
import json
import math
import os

import pytest

from benchmarks import zoo_curves


def test_fit_log_recovers_a_log_linear_curve_and_inverts_it():
    points = [(e, 0.40 + 0.05 * math.log(e)) for e in (1, 2, 5, 10, 30)]
    a, b = zoo_curves.fit_log(points, fit_from=0)
    assert a == pytest.approx(0.40, abs=1e-9) and b == pytest.approx(0.05, abs=1e-9)
    # 0.40 + 0.05 ln(E) = 0.65  <=>  E = e^5
    assert zoo_curves.epochs_to_reach((a, b), 0.65) == pytest.approx(math.exp(5), rel=1e-6)
    # points before fit_from are left out; fewer than two points or no spread: no fit
    assert zoo_curves.fit_log([(1, 0.9)] + points[1:], fit_from=1.5)[1] == pytest.approx(0.05)
    assert zoo_curves.fit_log(points[:1], fit_from=0) is None
    assert zoo_curves.fit_log([(3, 0.4), (3, 0.5)], fit_from=0) is None
    assert zoo_curves.epochs_to_reach((0.5, -0.01), 0.7) == math.inf  # a falling curve never does


def test_point_flag_parses_and_names_the_fix():
    assert zoo_curves.parse_point("ssl_hsic_no_target:3:0.503") == ("ssl_hsic_no_target", 3.0, 0.503)
    for bad in ("ssl_hsic:3", "ssl_hsic:three:0.5", "ssl_hsic:3:50.3", ":3:0.5", "a:3:0.5:1"):
        with pytest.raises(argparse.ArgumentTypeError, match="--point expected METHOD:EPOCHS:KNN"):
            zoo_curves.parse_point(bad)


def _finished_run(folder, method, epochs, knn, cpu_seconds):
    os.makedirs(folder)
    with open(os.path.join(folder, "results.json"), "w") as f:
        json.dump({"method": method, "epochs": epochs, "knn_k": 200, "knn_top1": knn,
                   "train_cpu_seconds": cpu_seconds,
                   "knn_curve": {"points": [{"epoch": epochs, "knn_top1": knn}]}}, f)


def test_schedule_fit_uses_the_end_of_each_run(tmp_path, capsys, monkeypatch):
    """One point per finished run; the cost per epoch is the longest run's."""
    _finished_run(tmp_path / "a" / "short", "cissl", 1.0, 0.46, 180.0)
    _finished_run(tmp_path / "a" / "long", "cissl", 30.0, 0.46 + 0.05 * math.log(30), 30 * 150.0)
    runs = [zoo_curves.read_run(str(tmp_path / "a" / n)) for n in ("short", "long")]
    assert runs[0]["name"] == "a/short" and runs[1]["final_knn"] == pytest.approx(0.63, abs=0.01)
    ends = zoo_curves.schedule_ends(runs, [("cissl", 6.0, 0.46 + 0.05 * math.log(6)),
                                           ("simclr", 3.0, 0.5)])
    assert [e for e, _ in ends["cissl"]] == [1.0, 6.0, 30.0] and ends["simclr"] == [(3.0, 0.5)]

    out = tmp_path / "out"
    monkeypatch.setattr("sys.argv", ["zoo_curves", str(tmp_path / "a" / "short"),
                                     str(tmp_path / "a" / "long"), "--targets", "0.65",
                                     "--point", "cissl:6:0.5496", "--out", str(out)])
    zoo_curves.main()
    printed = capsys.readouterr().out
    # 0.46 + 0.05 ln(E) = 0.65 at E = e^3.8 = 44.7 epochs; 150 CPU-s per epoch -> 1.9 CPU-hours
    assert "65% kNN at the end of a run of about 45 epochs, 1.9 CPU-hours" in printed
    with open(out / "zoo_curves.json") as f:
        fits = json.load(f)["schedule_fits"]["cissl"]
    assert fits["targets"]["0.65"]["epochs"] == pytest.approx(math.exp(3.8), rel=1e-3)
    assert (out / "zoo_curves.png").stat().st_size > 10_000
