"""Zoo cards: an entry's record gains sslhsic-evaluate / sslhsic-analyze results and a use line,
and its card and the README table are written from it."""

import json

import numpy as np
import pytest

from sslhsic_tf import evaluation, zoo
from sslhsic_tf.zoo import cards, cli
from tests.zoo.test_zoo import _zoo_with, template  # noqa: F401 (the fixture)


@pytest.fixture(scope="module")
def report():
    """A real report: kNN, L-BFGS, fine-tuning and fine-tuned 1% / 10% subsets of 8x8 images."""
    from tests.serving.encoders import tiny_encoder

    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(4), 50).astype("int32")
    images = (rng.random((200, 8, 8, 3)) * 0.3 + labels[:, None, None, None] / 6).astype("float32")
    return evaluation.evaluate_encoder(
        tiny_encoder(seed=5), (images, labels), (images[::4], labels[::4]),
        protocols=("knn", "linear_lbfgs", "finetune", "semi_supervised"),
        knn={"ks": (20, 200)}, finetune={"epochs": 1},
        semi_supervised={"fractions": (0.1, 0.5), "protocol": "finetune", "epochs": 2},
        data_name="train=demo:train test=demo:test", batch_size=50)


def test_figures_describe_every_protocol(report):
    figures = cards.figures(report)
    top1 = {f["protocol"]: f["value"] for f in figures if f["metric"] == "top1"}
    by_record = {r["protocol"] + str(r.get("subset", {}).get("fraction", "")): r["top1"]
                 for r in report["results"] if r.get("k") != 20}
    assert top1["kNN, cosine, k=200, T=0.07, frozen encoder (BN inference)"] == by_record["knn"]
    assert top1["fine-tuned, all 200 labels, 1 epoch"] == by_record["finetune"]
    assert top1["fine-tuned, 10% of the labels (20 images, class-balanced, seed 0), 2 epochs"] == (
        by_record["semi_supervised/finetune0.1"])
    assert any(p.startswith("linear probe, offline, L-BFGS") for p in top1)
    assert {f["dataset"] for f in figures} == {"demo:test"}
    assert all(f["protocol_wall_seconds"] >= 0 for f in figures)
    local = dict(report, data={"name": "train=x test=cifar10_archive:/home/me/c10.tar.gz:test"})
    assert {f["dataset"] for f in cards.figures(local)} == {"cifar10_archive:c10.tar.gz:test"}
    with pytest.raises(ValueError, match="must be an sslhsic-evaluate report"):
        cards.figures({"knn": 0.5})


def test_annotate_card_and_table(tmp_path, template, report):  # noqa: F811
    root = _zoo_with(tmp_path, template)
    analysis = {"name": "tiny", "data": "demo:test", "settings": {"num_images": 100, "num_views": 4},
                "metrics": {"hsic_zy": 0.25, "rankme": 7.5, "knn_top1": 0.4}, "plot": {"big": [1]}}
    cards.annotate("tiny", report=report, analysis=analysis, good_for="tests", root=root)
    cards.annotate("tiny", report=report, root=root)  # again: figures replaced, not repeated
    entry = zoo.info("tiny", root=root)
    protocols = [(f["metric"], f["protocol"]) for f in entry["evaluation"]]
    assert len(protocols) == len(set(protocols))
    assert entry["good_for"] == "tests" and "plot" not in entry["analysis"]
    zoo.verify("tiny", root=root)  # the files and their checksums are untouched
    text = cards.card("tiny", root=root)
    assert text.startswith("### `tiny`\n") and "**Good for:** tests" in text
    semi = [f for f in entry["evaluation"] if "10% of the labels" in f["protocol"]
            and f["metric"] == "top1"][0]
    assert f"| {semi['protocol']} | {100 * semi['value']:.1f}%" in text
    assert "HSIC(Z, Y) 0.2500" in text and "RankMe 7.5" in text and "100 images of demo:test" in text
    row = [line for line in cards.table(root).splitlines() if line.startswith("| `tiny`")][0]
    assert row.endswith(f" | - / {100 * semi['value']:.1f}% |")  # no 1% subset here
    with pytest.raises(ValueError, match="good_for must be one line"):
        cards.annotate("tiny", good_for="two\nlines", root=root)
    with pytest.raises(ValueError, match="must be JSON values without NaN"):
        cards.annotate("tiny", analysis={"metrics": {"rankme": float("nan")}}, root=root)
    with pytest.raises(ValueError, match="zoo model 'nope' is not in"):
        cards.annotate("nope", good_for="x", root=root)


def test_cli_annotate_picks_the_entry_record_of_an_analysis(tmp_path, template, capsys):  # noqa: F811
    root = _zoo_with(tmp_path, template)
    path = tmp_path / "analysis.json"
    path.write_text(json.dumps({"data": "demo:test", "encoders": [
        {"name": "random_resnet18x0.25", "settings": {}, "metrics": {"rankme": 1.0}},
        {"name": "tiny", "settings": {"num_images": 10, "num_views": 2}, "metrics": {"rankme": 9.0}}]}))
    assert cli.main(["--root", str(root), "annotate", "tiny", "--analysis", str(path),
                     "--good_for", "a use"]) == 0
    assert "RankMe 9.0" in capsys.readouterr().out
    assert cli.main(["--root", str(root), "annotate", "other", "--analysis", str(path)]) == 1
    err = capsys.readouterr().err
    assert "no encoder record named 'other'" in err and "--encoder=zoo:other" in err
    assert cli.main(["--root", str(root), "annotate", "tiny"]) == 1
    assert "give --report, --analysis or --good_for" in capsys.readouterr().err


def test_a_runs_export_describes_figures_as_the_cards_do(report):
    """sslhsic-export --zoo (a run's results.json) and annotate (a report) write one text."""
    from sslhsic_tf import export

    results = {"evaluation": report["results"], "data": {"test": "demo:test"}}
    assert export.evaluation_figures(results) == cards.figures(
        {"results": report["results"]}, dataset="demo:test")
    assert {f["protocol"] for f in export.evaluation_figures(results)} >= {
        "kNN, cosine, k=20, T=0.07, frozen encoder (BN inference)"}


def test_card_shows_a_long_curve_thinned_with_its_end_once():
    """The shipped 90-epoch entry: 18 monitor points, every other one shown, the last one once."""
    name = "ssl_hsic_no_target_resnet18x0.25_cifar10"
    points = zoo.info(name)["training"]["knn_curve"]["points"]
    line = [x for x in cards.card(name).splitlines() if x.startswith("kNN monitor")][0]
    shown = line.split(": ", 1)[1].rstrip(".").split(", ")
    assert len(points) > 12 and 6 <= len(shown) <= 13, shown
    end = f"epoch {points[-1]['epoch']:.0f}: {100 * points[-1]['knn_top1']:.1f}"
    assert shown[-1] == end and shown.count(end) == 1, shown


def test_readme_table_and_docs_cards_are_the_manifests():
    """The README's zoo table and docs/zoo.md's cards are what the shipped manifest gives
    (after `sslhsic-zoo annotate`: `sslhsic-zoo table --write README.md` and `sslhsic-zoo card
    --write docs/zoo.md`)."""
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text()
    assert cards.table() in readme, "README.md: run `sslhsic-zoo table --write README.md`"
    docs = (root / "docs" / "zoo.md").read_text()
    shown = docs[docs.index(cards.CARDS_START) + len(cards.CARDS_START):docs.index(cards.CARDS_END)]
    assert shown.strip() == cards.all_cards().strip(), (
        "docs/zoo.md: run `sslhsic-zoo card --write docs/zoo.md`")


def test_write_replaces_the_table_and_the_cards_in_place(tmp_path, capsys):
    """`table --write` / `card --write` replace a stale table or set of cards and leave the rest
    of the file as it was; a file without them is an error naming it and the fix."""
    from sslhsic_tf.zoo import cli

    header = cards.table().splitlines()[0]
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\nbefore\n\n{header}\n|---|\n| `old_entry` | x |\n\nafter\n")
    assert cli.main(["table", "--write", str(readme)]) == 0
    assert readme.read_text() == f"# Title\n\nbefore\n\n{cards.table()}\nafter\n"
    assert "zoo table updated" in capsys.readouterr().out
    cli.main(["table", "--write", str(readme)])
    assert "already current" in capsys.readouterr().out
    docs = tmp_path / "zoo.md"
    docs.write_text(f"intro\n{cards.CARDS_START}### `old`\n{cards.CARDS_END}\nend\n")
    cli.main(["card", "--write", str(docs)])
    assert docs.read_text() == (f"intro\n{cards.CARDS_START}{cards.all_cards().strip()}"
                                f"{cards.CARDS_END}\nend\n")
    capsys.readouterr()
    plain = tmp_path / "plain.md"
    plain.write_text("no table here\n")
    for argv, expected in ((["table", "--write", str(plain)], "no zoo table"),
                           (["card", "--write", str(plain)], "no card markers"),
                           (["card", "some_name", "--write", str(docs)], "leave out NAME")):
        assert cli.main(argv) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and expected in err and "\n" not in err, err
    assert plain.read_text() == "no table here\n"


def test_a_resumed_runs_card_gives_the_wall_hours_of_every_process():
    """A run trained by several processes: its last process's `train_seconds` is not the run's
    time, so the entry records the CPU and wall hours summed over them and the card shows those;
    a run of one process (the GPU entry's budgeted run) keeps its training seconds."""
    from sslhsic_tf import export

    resumed = {"train_cpu_seconds": 8173.8, "train_wall_seconds": 4428.5, "train_seconds": 4267.1,
               "resumed_from_step": 196, "command": "python -m sslhsic_tf.pretrain ..."}
    cost = export._run_cost(resumed)
    assert cost["cpu_hours"] == pytest.approx(2.27) and cost["wall_hours"] == pytest.approx(1.23)
    assert "train_seconds" not in cost
    single = {"train_seconds": 250.0, "resumed_from_step": 0, "device": "gpu:NVIDIA H200"}
    assert export._run_cost(single)["train_seconds"] == 250.0
    line = [x for x in cards.card("ssl_hsic_no_target_resnet18x0.25_cifar10_40ep_v2").splitlines()
            if x.startswith("Training:")][0]
    assert line.endswith("2.33 CPU-hours, 1.34 wall hours on AMD EPYC (2 cores, "
                         "mixed_bfloat16)."), line  # the machine and policy it trained on
    line = [x for x in cards.card("ssl_hsic_resnet18_cifar10_150ep").splitlines()
            if x.startswith("Training:")][0]
    assert " min" in line and "wall hours" not in line, line


def test_an_entrys_command_reads_as_run_from_a_clone():
    """export --zoo writes the run's command with the paths in and beside the repository made
    relative to it (`../runs/...`, `../shared/...`), other absolute paths as they are."""
    from sslhsic_tf import export

    command = ("python -m sslhsic_tf.pretrain --config=configs/cifar10_ssl_hsic.py "
               "--workdir=/work/runs/r31/ssl_hsic_100ep "
               "--config.data.dataset=cifar10_archive:/work/shared/data/cifar10/c.tar.gz "
               "--config.data.test=folder:/work/main/data/test --other=/tmp/x --x=/work/mainly/y")
    assert export.portable_command(command, "/work/main") == (
        "python -m sslhsic_tf.pretrain --config=configs/cifar10_ssl_hsic.py "
        "--workdir=../runs/r31/ssl_hsic_100ep "
        "--config.data.dataset=cifar10_archive:../shared/data/cifar10/c.tar.gz "
        "--config.data.test=folder:data/test --other=/tmp/x --x=../mainly/y")
    # A repository at the file system's root: its own paths only (".." would be "/").
    assert export.portable_command("--w=/repo/runs/a --d=x:/runs/b", "/repo") == (
        "--w=runs/a --d=x:/runs/b")
    cost = export._run_cost({"command": command}, repo="/work/main")
    assert cost["command"].startswith("python -m sslhsic_tf.pretrain --config=configs/")
    assert "--workdir=../runs/r31/" in cost["command"]
    # Every shipped entry's command is portable so.
    for name in zoo.list():
        text = zoo.info(name)["training"].get("command", "")
        assert "=/" not in text and ":/" not in text, (name, text)


def test_an_entrys_epochs_are_its_schedules():
    """An entry records the `--config.epochs` its command states, though the steps round up to
    whole checkpoint intervals (100 epochs of 195 steps, checkpoints every 196: 19,600 steps,
    100.5 epochs), also where the run stopped early; a schedule set in steps or by a time budget
    records its epochs rounded, at least 1."""
    from sslhsic_tf import export

    config = {"epochs": 100.0, "total_steps": 0, "budget": {"minutes": 0.0}}
    finished = {"epochs": 100.51282, "total_steps": 19600, "trained_steps": 19600}
    assert export._schedule_epochs(config, finished) == 100
    # results.json of a run stopped by stop_after_epochs: "epochs" is its schedule's length.
    stopped = {"epochs": 100.51282, "trained_epochs": 15.08, "total_steps": 19600, "trained_steps": 2940}
    assert export._schedule_epochs(config, stopped) == 100
    assert export._schedule_epochs({**config, "total_steps": 4}, {"epochs": 0.5, "total_steps": 4}) == 1
    budgeted = {**config, "epochs": 200.0, "budget": {"minutes": 8.0}}
    assert export._schedule_epochs(budgeted, {"epochs": 150.3, "total_steps": 14694}) == 150
    # (test_shipped_zoo.py: every CPU entry's command states the epochs it records.)
