"""`benchmarks/finetune_table.py`: the README's fine-tuning table from sslhsic-evaluate reports."""

import json

import pytest

from benchmarks import finetune_table


def _report(folder, label, tag, top1, seconds, epochs=None):
    """A report as sslhsic-evaluate writes it for budget `tag` (its fraction and epochs)."""
    (fraction, budget_epochs), = [(f, e) for t, _, f, e in finetune_table.BUDGETS if t == tag]
    record = {"protocol": "finetune", "top1": top1, "top5": 0.9, "epochs": epochs or budget_epochs}
    if fraction is not None:
        record.update(protocol="semi_supervised/finetune", subset={"fraction": fraction})
    (folder / f"{label}.{tag}.json").write_text(json.dumps(
        {"format": "sslhsic_tf.evaluation/1", "results": [record],
         "seconds": {record["protocol"].split("/")[0]: seconds}}))


def test_table_gives_points_over_the_random_encoder(tmp_path, capsys):
    _report(tmp_path, "random_resnet18x0.25", "semi1", 0.30, 60)
    _report(tmp_path, "random_resnet18x0.25", "full", 0.40, 120)
    _report(tmp_path, "enc_a", "semi1", 0.61, 300)
    _report(tmp_path, "enc_a", "semi10", 0.70, 600)
    _report(tmp_path, "enc_a", "full", 0.66, 900)
    (tmp_path / "subset_fraction0.01_seed0.json").write_text("{}")  # saved subsets: not reports
    finetune_table.main(["table", str(tmp_path), "--json", str(tmp_path / "figures.json")])
    rows = capsys.readouterr().out.splitlines()
    assert rows[2] == "| `enc_a` | 61.0% (+31.0) | 70.0% | 66.0% (+26.0) | 30 min |"
    assert rows[3] == "| random resnet18x0.25 | 30.0% | - | 40.0% | 3 min |"
    saved = json.loads((tmp_path / "figures.json").read_text())
    assert saved["enc_a"]["semi10"] == {"top1": 0.70, "wall_seconds": 600.0}


def test_points_are_over_the_random_encoder_of_the_same_shape(tmp_path, capsys):
    """A zoo entry's shape comes from the manifest; an encoder of unknown shape gets no points
    where random encoders of two shapes could be its baseline."""
    _report(tmp_path, "random_resnet18x0.25", "semi1", 0.30, 60)
    _report(tmp_path, "random_resnet18x1", "semi1", 0.25, 600)
    _report(tmp_path, "cissl_resnet18x0.25_cifar10", "semi1", 0.55, 300)
    _report(tmp_path, "ssl_hsic_resnet18_cifar10_150ep", "semi1", 0.60, 900)
    _report(tmp_path, "enc_a", "semi1", 0.50, 60)
    assert finetune_table.shape_of("ssl_hsic_resnet18_cifar10_150ep") == "resnet18x1"
    assert finetune_table.shape_of("cissl_resnet18x0.25_cifar10") == "resnet18x0.25"
    finetune_table.main(["table", str(tmp_path)])
    rows = capsys.readouterr().out.splitlines()
    assert rows[2:] == ["| `ssl_hsic_resnet18_cifar10_150ep` | 60.0% (+35.0) | - | - | 15 min |",
                        "| `cissl_resnet18x0.25_cifar10` | 55.0% (+25.0) | - | - | 5 min |",
                        "| `enc_a` | 50.0% | - | - | 1 min |",
                        "| random resnet18x0.25 | 30.0% | - | - | 1 min |",
                        "| random resnet18x1 | 25.0% | - | - | 10 min |"]


def test_labels_and_errors(tmp_path, capsys):
    assert finetune_table.label_of("zoo:cissl_resnet18x0.25_cifar10") == "cissl_resnet18x0.25_cifar10"
    assert finetune_table.label_of("random:resnet18x0.25") == "random_resnet18x0.25"
    assert finetune_table.label_of("runs/demo/") == "demo"
    with pytest.raises(ValueError, match="no reports of benchmarks.finetune_table"):
        finetune_table.table(str(tmp_path))
    _report(tmp_path, "enc_b", "semi10", 0.66, 300, epochs=10)  # made with other flags
    with pytest.raises(ValueError, match="enc_b.semi10.json: trained on fraction 0.1 for 10 epochs"):
        finetune_table.table(str(tmp_path))
    assert finetune_table.budget_flags(0.1, 30) == [
        "--protocols=semi_supervised", "--semi_protocol=finetune", "--fractions=0.1",
        "--finetune_epochs=30"]
    with pytest.raises(SystemExit):
        finetune_table.main(["run", "random:resnet18x0.25", "--archive", str(tmp_path / "no.tar.gz"),
                             "--out", str(tmp_path)])
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--archive=" in error and "no such file" in error, error


def test_table_joins_the_figures_of_an_earlier_table(tmp_path, capsys):
    """`--with`: the rows of an earlier `--json` (its report folder lost) join the new reports,
    the folder's own report winning where both hold one encoder and budget."""
    earlier, new = tmp_path / "earlier", tmp_path / "new"
    earlier.mkdir(), new.mkdir()
    _report(earlier, "random_resnet18x0.25", "semi1", 0.30, 60)
    _report(earlier, "enc_a", "semi1", 0.61, 300)
    _report(earlier, "enc_a", "full", 0.50, 300)
    finetune_table.main(["table", str(earlier), "--json", str(tmp_path / "earlier.json")])
    _report(new, "enc_b", "semi1", 0.65, 240)
    _report(new, "enc_a", "full", 0.66, 120)  # measured again: replaces the earlier 50%
    capsys.readouterr()
    finetune_table.main(["table", str(new), "--with", str(tmp_path / "earlier.json")])
    rows = capsys.readouterr().out.splitlines()
    assert rows[2:] == ["| `enc_b` | 65.0% (+35.0) | - | - | 4 min |",
                        "| `enc_a` | 61.0% (+31.0) | - | 66.0% | 7 min |",
                        "| random resnet18x0.25 | 30.0% | - | - | 1 min |"]
    (tmp_path / "other.json").write_text(json.dumps({"enc_c": {"semi1": {"knn": 0.5}}}))
    with pytest.raises(ValueError, match=r"--with=.*other.json: enc_c.semi1 is not a figure"):
        finetune_table.table(str(new), str(tmp_path / "other.json"))
