"""Fine-tuned top-1 of encoders with 1%, 10% and all of the CIFAR-10 labels: the README's table.

    python -m benchmarks.finetune_table run --archive=CIFAR10.tar.gz --out=DIR \\
        zoo:ssl_hsic_no_target_resnet18x0.25_cifar10 zoo:cissl_resnet18x0.25_cifar10 \\
        random:resnet18x0.25
    python -m benchmarks.finetune_table table DIR [--json=F] [--with=EARLIER.json]

`run` calls `sslhsic-evaluate` once per encoder and label budget, each a resumable unit (a
finished report is not run again): the whole encoder and a linear head trained with the
fine-tuning protocol of `evaluation/finetune.py` (SGD, Nesterov momentum 0.9, learning rate
0.05 x batch/256 with cosine decay, batch 256, pad-crop-flip), on class-balanced subsets chosen
by seed 0 (the subset's indices are saved beside the reports). The budget fits 2 CPU cores: 1%
and 10% of the labels for 30 epochs each, all labels for 1 epoch: 215,000 training images per
encoder, about 10-35 minutes at ResNet-18 x0.25 and 81 minutes at x1 (2 AVX-512 cores, float32).
`table` prints the Markdown table with points over the random encoder of the same shape (a
`random:` encoder in DIR) and each report's wall time;
`--with` adds the figures of an earlier `--json` (a report folder lost with its machine), the
folder's own reports taking precedence.
"""

import argparse
import json
import os
import subprocess
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: (tag, column, label fraction or None for all, epochs): the label budgets, in the table's order.
BUDGETS = (("semi1", "1% labels, 30 epochs", 0.01, 30),
           ("semi10", "10% labels, 30 epochs", 0.1, 30),
           ("full", "100% labels, 1 epoch", None, 1))


def budget_flags(fraction, epochs):
    """The sslhsic-evaluate flags of one label budget."""
    if fraction is None:
        return ["--protocols=finetune", f"--finetune_epochs={epochs}"]
    return ["--protocols=semi_supervised", "--semi_protocol=finetune", f"--fractions={fraction}",
            f"--finetune_epochs={epochs}"]


def label_of(encoder):
    """The file label of an encoder spec: zoo:NAME -> NAME, random:resnet18x0.25 ->
    random_resnet18x0.25, a path -> its folder or file name."""
    if encoder.startswith("zoo:"):
        return encoder[len("zoo:"):]
    if encoder.startswith("random:"):
        return "random_" + encoder[len("random:"):]
    return os.path.basename(os.path.normpath(encoder))


def shape_of(label):
    """`resnetDEPTHxWIDTH` of a table label: a random encoder's own, a zoo entry's from the
    manifest; None for anything else (a run folder)."""
    if label.startswith("random_"):
        return label[len("random_"):]
    from sslhsic_tf import zoo

    try:
        architecture = zoo.info(label)["architecture"]
    except (ValueError, KeyError):
        return None
    return f"{architecture['name']}{architecture['depth']}x{architecture['width_multiplier']:g}"


def baseline_of(label, randoms):
    """The random encoder a trained encoder's points are counted over: the one of its shape;
    for an encoder of unknown shape the only random encoder, if there is one; else None."""
    shape = shape_of(label)
    if shape is not None:
        return f"random_{shape}" if f"random_{shape}" in randoms else None
    return randoms[0] if len(randoms) == 1 else None


def report_path(out, encoder, tag):
    return os.path.join(out, f"{label_of(encoder)}.{tag}.json")


def run(encoders, archive, out, python=sys.executable):
    """Evaluates every encoder at every budget not yet in `out`; returns the failed units."""
    os.makedirs(out, exist_ok=True)
    failed = []
    for encoder in encoders:
        for tag, _, fraction, epochs in BUDGETS:
            path = report_path(out, encoder, tag)
            if os.path.exists(path):
                continue
            command = [python, "-m", "sslhsic_tf.evaluate", f"--encoder={encoder}",
                       f"--train=cifar10_archive:{archive}:train",
                       f"--test=cifar10_archive:{archive}:test", *budget_flags(fraction, epochs),
                       f"--output={path}"]
            print(" ".join(command), flush=True)
            with open(path[:-len(".json")] + ".log", "w") as log:
                if subprocess.run(command, stdout=log, stderr=subprocess.STDOUT).returncode:
                    failed.append(f"{label_of(encoder)}.{tag}")
    return failed


def read_reports(out):
    """{label: {tag: (top1, wall seconds of the protocol)}} of the reports in `out`; a report
    trained for other epochs or on other labels than its budget is an error."""
    budgets = {tag: (fraction, epochs) for tag, _, fraction, epochs in BUDGETS}
    found = {}
    for name in sorted(os.listdir(out)):
        label, _, tag = name[:-len(".json")].rpartition(".")
        if not name.endswith(".json") or not label or tag not in budgets:
            continue  # the subsets' indices, logs
        with open(os.path.join(out, name)) as f:
            report = json.load(f)
        (record,) = report["results"]
        fraction, epochs = budgets[tag]
        got = (record.get("subset", {}).get("fraction"), record.get("epochs"))
        if got != (fraction, epochs):
            raise ValueError(f"{os.path.join(out, name)}: trained on fraction {got[0]} for "
                             f"{got[1]} epochs where budget {tag!r} is {fraction} for {epochs}; "
                             "delete it and run again")
        wall = sum((report.get("seconds") or {}).values())
        found.setdefault(label, {})[tag] = (float(record["top1"]), float(wall))
    return found


def read_figures(path):
    """{label: {tag: (top1, wall seconds)}} of a table's earlier `--json` file."""
    with open(path) as f:
        saved = json.load(f)
    budgets = {tag for tag, _, _, _ in BUDGETS}
    found = {}
    for label, cells in saved.items():
        for tag, cell in cells.items():
            if tag not in budgets or set(cell) != {"top1", "wall_seconds"}:
                raise ValueError(f"--with={path}: {label}.{tag} is not a figure of "
                                 "`finetune_table table --json` (budgets: " + ", ".join(sorted(budgets))
                                 + "; keys: top1, wall_seconds); pass a file that it wrote")
            found.setdefault(label, {})[tag] = (float(cell["top1"]), float(cell["wall_seconds"]))
    return found


def table(out, earlier=None):
    """The Markdown table of the reports in `out`, with the figures of an earlier `--json`
    file `earlier` where `out` has no report for that encoder and budget (rows: encoders, best
    first, random last; cells: top-1, and for trained encoders the points over the random
    encoder of their shape, `baseline_of`)."""
    found = read_figures(earlier) if earlier else {}
    for label, cells in read_reports(out).items():
        found.setdefault(label, {}).update(cells)
    if not found:
        raise ValueError(f"{out}: no reports of benchmarks.finetune_table (LABEL.TAG.json); "
                         "run `python -m benchmarks.finetune_table run` first")
    randoms = sorted(label for label in found if label.startswith("random_"))
    lines = ["| encoder | " + " | ".join(column for _, column, _, _ in BUDGETS)
             + " | wall time |", "|---|" + "---|" * (len(BUDGETS) + 1)]
    first = BUDGETS[0][0]  # rows: best first in the first column, random encoders last
    for label in sorted(found, key=lambda name: (name in randoms,
                                                 -found[name].get(first, (0.0,))[0], name)):
        cells = []
        baseline = {} if label in randoms else found.get(baseline_of(label, randoms), {})
        for tag, _, _, _ in BUDGETS:
            if tag not in found[label]:
                cells.append("-")
                continue
            top1 = found[label][tag][0]
            gain = ""
            if tag in baseline:
                gain = f" ({100 * (top1 - baseline[tag][0]):+.1f})"
            cells.append(f"{100 * top1:.1f}%{gain}")
        minutes = sum(wall for _, wall in found[label].values()) / 60
        name = f"`{label}`" if label not in randoms else f"random {label[len('random_'):]}"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {minutes:.0f} min |")
    return "\n".join(lines) + "\n", found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="evaluate encoders (resumable)")
    run_parser.add_argument("encoders", nargs="+", help="zoo:NAME, random:resnetDxW, run folders")
    run_parser.add_argument("--archive", required=True, help="the CIFAR-10 archive")
    run_parser.add_argument("--out", required=True, help="folder of the reports")
    table_parser = commands.add_parser("table", help="print the Markdown table")
    table_parser.add_argument("out", help="folder of the reports")
    table_parser.add_argument("--json", help="also write the figures to this JSON file")
    table_parser.add_argument("--with", dest="earlier",
                              help="an earlier --json file: its figures join the folder's reports")
    args = parser.parse_args(argv)
    if args.command == "run":
        if not os.path.isfile(args.archive):
            parser.error(f"--archive={args.archive}: no such file; pass the CIFAR-10 archive "
                         "(cifar10_jpeg_q75.tar.gz or the original python tarball)")
        failed = run(args.encoders, os.path.abspath(args.archive), args.out)
        if failed:
            sys.exit(f"failed: {', '.join(failed)} (their .log files in {args.out})")
    markdown, found = table(args.out, getattr(args, "earlier", None))
    print(markdown, end="")
    if getattr(args, "json", None):
        with open(args.json, "w") as f:
            json.dump({label: {tag: {"top1": top1, "wall_seconds": wall}
                               for tag, (top1, wall) in cells.items()}
                       for label, cells in found.items()}, f, indent=1)


if __name__ == "__main__":
    main()
