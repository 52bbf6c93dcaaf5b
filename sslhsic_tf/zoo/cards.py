"""Zoo cards: what an entry is, what it scores, what it is good for, all from its manifest record.

    annotate(name, report=..., analysis=..., good_for=...)   # adds to the entry's record
    card(name)                                              # its Markdown card
    all_cards()                                             # every entry's: docs/zoo.md
    table()                                                 # the README's zoo table

`report` is an `sslhsic-evaluate` report (evaluation.json: kNN, linear, fine-tuning,
semi-supervised), turned into figures by `figures(report)` (the same descriptions as a run's
export); `analysis` one encoder's record of `sslhsic-analyze` (analysis.json); `good_for` one
line. Command line: `sslhsic-zoo annotate NAME --report F --analysis F --good_for TEXT`,
`sslhsic-zoo card NAME`, `sslhsic-zoo table`.
"""

import json
import math

from sslhsic_tf.data.specs import describe_spec
from sslhsic_tf.zoo.manifest import locked, read_manifest, validate_entry, write_manifest
from sslhsic_tf.zoo.paths import resolve_root

#: sslhsic-analyze's diagnostics shown on a card: (key, label, format), as its table.
ANALYSIS_ROWS = (("hsic_zy", "HSIC(Z, Y)", "{:.4f}"), ("hsic_zz", "HSIC(Z, Z)", "{:.2e}"),
                 ("alignment", "alignment", "{:.3f}"), ("uniformity", "uniformity", "{:.3f}"),
                 ("rankme", "RankMe", "{:.1f}"), ("label_cka", "label CKA", "{:.3f}"),
                 ("knn_top1", "kNN (k=200)", "{:.1%}"))
METHOD_NAMES = {"ssl_hsic": "SSL-HSIC (EMA target)", "ssl_hsic_no_target": "SSL-HSIC without a target",
                "simclr": "SimCLR", "byol": "BYOL", "cissl": "CISSL", "dissl": "DISSL",
                "dino": "DINO", "swav": "SwAV"}


def _epochs(record):
    return f"{record['epochs']} epoch" + ("" if record["epochs"] == 1 else "s")


def describe(record):
    """The protocol text of one evaluation record (`sslhsic_tf.evaluation` formats)."""
    protocol = record["protocol"]
    if protocol == "knn":
        return (f"kNN, cosine, k={record['k']}, T={record['temperature']}, frozen encoder "
                "(BN inference)")
    if protocol == "linear_lbfgs":
        return ("linear probe, offline, L-BFGS logistic regression on frozen features "
                f"(BN inference), l2={record.get('l2')}")
    if protocol == "linear_sgd":
        return f"linear probe, SGD, {_epochs(record)}, frozen encoder"
    if protocol == "finetune":
        return f"fine-tuned, all {record['num_train']} labels, {_epochs(record)}"
    if protocol.startswith("semi_supervised/"):
        subset, inner = record["subset"], protocol.split("/", 1)[1]
        share = (f"{subset['fraction']:.0%} of the labels" if subset.get("fraction") is not None
                 else f"{subset['num_examples']} labels")
        how = {"finetune": "fine-tuned", "linear_lbfgs": "linear probe (L-BFGS)",
               "linear_sgd": "linear probe (SGD)"}[inner]
        epochs = f", {_epochs(record)}" if "epochs" in record else ""
        return (f"{how}, {share} ({subset['num_examples']} images, class-balanced, seed "
                f"{subset.get('seed')}){epochs}")
    return protocol


def figures(report, dataset=None):
    """Zoo figures (`metric`, `value`, `protocol`, `dataset`, and `protocol_wall_seconds`: the
    wall time of the protocol's whole run, every subset of it) of an `sslhsic-evaluate` report;
    `dataset` defaults to the report's test source without machine-local folders."""
    if not isinstance(report, dict) or not isinstance(report.get("results"), list):
        raise ValueError("report must be an sslhsic-evaluate report: a JSON object with a "
                         "'results' list (its evaluation.json)")
    if dataset is None:
        name = (report.get("data") or {}).get("name") or ""
        dataset = describe_spec(name.split("test=", 1)[1] if "test=" in name else name)
    seconds = report.get("seconds") or {}
    out = []
    for record in report["results"]:
        spent = seconds.get(record["protocol"].split("/", 1)[0])
        for metric in ("top1", "top5"):
            if record.get(metric) is not None:
                figure = {"metric": metric, "value": float(record[metric]),
                          "protocol": describe(record), "dataset": dataset}
                if spent is not None:  # wall time of the protocol's whole run (all its subsets)
                    figure["protocol_wall_seconds"] = round(float(spent), 1)
                out.append(figure)
    return out


def annotate(name, *, report=None, analysis=None, good_for=None, root=None):
    """Adds to entry `name` of the manifest at `root` (default `zoo.root()`): the figures of
    `report` (replacing figures with the same metric, protocol and dataset), the `analysis`
    record (`{"name", "settings", "metrics"}` of sslhsic-analyze, plus its `data` and
    `knn_train`), and the
    `good_for` line. Returns the updated entry. The manifest is rewritten atomically under the
    zoo's lock; the entry's files are untouched (their checksums stay valid)."""
    zoo_root = resolve_root(root)
    if good_for is not None and (not isinstance(good_for, str) or not good_for.strip()
                                 or "\n" in good_for):
        raise ValueError(f"good_for must be one line of text; got {good_for!r}")
    if analysis is not None and not (isinstance(analysis, dict)
                                     and isinstance(analysis.get("metrics"), dict)):
        raise ValueError("analysis must be one encoder's record of sslhsic-analyze "
                         "(analysis.json's 'encoders' list): an object with 'metrics'")
    new = figures(report) if report is not None else []
    with locked(zoo_root):
        doc = read_manifest(zoo_root)
        if name not in doc["models"]:
            raise ValueError(f"zoo model {name!r} is not in {zoo_root}; "
                             f"available: {', '.join(sorted(doc['models']))}")
        entry = doc["models"][name]
        key = lambda f: (f["metric"], f["protocol"], f.get("dataset"))  # noqa: E731
        replaced = {key(f) for f in new}
        entry["evaluation"] = [f for f in entry["evaluation"] if key(f) not in replaced] + new
        if analysis is not None:
            entry["analysis"] = {k: analysis[k] for k in ("name", "data", "knn_train", "settings",
                                                          "metrics") if k in analysis}
        if good_for is not None:
            entry["good_for"] = good_for.strip()
        try:
            json.dumps(entry, allow_nan=False)
        except (TypeError, ValueError) as err:
            raise ValueError(f"annotate({name!r}): the record must be JSON values without NaN "
                             f"({err})") from None
        validate_entry(entry, f"annotate({name!r})")
        write_manifest(zoo_root, doc)
    return entry


def _figure(entry, metric, *needles):
    for figure in entry.get("evaluation", []):
        if figure["metric"] == metric and all(n in figure["protocol"] for n in needles):
            return figure["value"]
    return None


def _percent(value):
    return "-" if value is None else f"{100 * value:.1f}%"


def _where(train):
    """" on MACHINE (CORES cores, POLICY)" for a card's training line; for a run whose processes
    trained on different CPUs or policies (`segments`), the steps that each trained."""
    groups = []  # [(cpu, policy), first step, last step], consecutive processes merged
    for segment in train.get("segments") or []:
        key = ((segment.get("machine") or {}).get("cpu"), segment.get("policy"))
        if groups and groups[-1][0] == key:
            groups[-1][2] = segment["to_step"]
        else:
            groups.append([key, segment["from_step"], segment["to_step"]])
    if len(groups) > 1:
        return ", steps " + ", ".join(
            f"{first}-{last} " + (f"on {cpu} ({policy})" if cpu else "on a machine not recorded")
            for (cpu, policy), first, last in groups)
    if isinstance(train.get("device"), str):
        return f" on {train['device']}"
    machine, policy = train.get("machine") or {}, (train.get("precision") or {}).get("policy")
    if not machine.get("cpu"):
        return ""
    details = [f"{machine['cores']} cores"] if machine.get("cores") else []
    return f" on {machine['cpu']} ({', '.join(details + ([policy] if policy else []))})"


def card(name, root=None):
    """The Markdown card of entry `name`: what it is, training, figures, analysis, curve, use."""
    doc = read_manifest(resolve_root(root))
    if name not in doc["models"]:
        raise ValueError(f"zoo model {name!r} is not in the manifest; available: "
                         f"{', '.join(sorted(doc['models']))}")
    entry = doc["models"][name]
    arch, train = entry["architecture"], entry["training"]
    lines = [f"### `{name}`", ""]
    what = (f"{METHOD_NAMES.get(entry['method'], entry['method'])}, ResNet-{arch['depth']} "
            f"x{arch['width_multiplier']:g} ({arch['stem']} stem), {entry['feature_dim']}-d "
            f"features, {entry['input_shape'][0]} px input.")
    lines.append(what + (f" **Good for:** {entry['good_for']}" if entry.get("good_for") else ""))
    cost = []
    if train.get("cpu_hours") is not None:
        cost.append(f"{train['cpu_hours']:g} CPU-hours")
    if train.get("wall_hours") is not None:  # every process of the run, resumes included
        cost.append(f"{train['wall_hours']:g} wall hours")
    elif train.get("train_seconds") is not None:
        cost.append(f"{train['train_seconds'] / 60:.0f} minutes")
    lines += ["", f"Training: {train['dataset']}, {train['epochs']} epochs"
              + (f", batch {train['batch_size']}" if train.get("batch_size") else "")
              + (f", {', '.join(cost)}" if cost else "") + _where(train) + "."]
    if train.get("command"):
        lines += ["", f"```bash\n{train['command']}\n```"]
    figures_ = [f for f in entry.get("evaluation", []) if f["metric"] == "top1"]
    if figures_:
        datasets = [f.get("dataset") for f in figures_]
        main = max(datasets, key=datasets.count)  # the others are named on their rows
        lines += ["", f"Figures on {main} unless a row says otherwise:", "",
                  "| protocol | top-1 | wall time of the protocol's run |", "|---|---|---|"]
        for f in figures_:
            top5 = _figure_top5(entry, f)
            spent = (f"{f['protocol_wall_seconds'] / 60:.0f} min"
                     if f.get("protocol_wall_seconds") else "")
            where = f", on {f.get('dataset')}" if f.get("dataset") != main else ""
            lines.append(f"| {f['protocol']}{where} | {_percent(f['value'])}"
                         + (f" (top-5 {_percent(top5)})" if top5 is not None else "")
                         + f" | {spent} |")
    analysis = entry.get("analysis")
    if analysis:
        settings = analysis.get("settings", {})
        cells = [f"{label} {fmt.format(analysis['metrics'][k])}" for k, label, fmt in ANALYSIS_ROWS
                 if isinstance(analysis["metrics"].get(k), (int, float))
                 and math.isfinite(analysis["metrics"][k])]
        memory = f", kNN memory {analysis['knn_train']}" if analysis.get("knn_train") else ""
        lines += ["", f"Analysis (`sslhsic-analyze`, {settings.get('num_images')} images of "
                  f"{analysis.get('data', '?')}, {settings.get('num_views')} views{memory}): "
                  + ", ".join(cells) + "."]
    curve = (train.get("knn_curve") or {}).get("points") if isinstance(train.get("knn_curve"), dict) \
        else None
    if curve:
        shown = curve[::math.ceil(len(curve) / 12)]  # at most 12, and the end
        if shown[-1] is not curve[-1]:
            shown = shown + curve[-1:]  # the end of the run, once
        lines += ["", "kNN monitor during training (k = 200): "
                  + ", ".join(f"epoch {p['epoch']:.0f}: {100 * p['knn_top1']:.1f}" for p in shown)
                  + "."]
    return "\n".join(lines) + "\n"


def all_cards(root=None):
    """Every entry's card, in the manifest's order, one blank line apart (docs/zoo.md's)."""
    names = read_manifest(resolve_root(root))["models"]
    return "\n".join(card(name, root) for name in names)


def _figure_top5(entry, top1):
    for f in entry.get("evaluation", []):
        if (f["metric"] == "top5" and f["protocol"] == top1["protocol"]
                and f.get("dataset") == top1.get("dataset")):
            return f["value"]
    return None


def table(root=None):
    """The README's zoo table: one row per entry, best kNN (k = 200) first: kNN (k = 200 / 20),
    linear, and fine-tuned with 1% and 10% of the labels where the entry has them."""
    doc = read_manifest(resolve_root(root))
    lines = ["| name | method | encoder | training | kNN (k=200 / 20) | linear | fine-tuned, 1% / 10% labels |",
             "|---|---|---|---|---|---|---|"]
    knn = lambda item: _figure(item[1], "top1", "k=200") or 0.0  # noqa: E731
    for name, entry in sorted(doc["models"].items(), key=knn, reverse=True):
        arch, train = entry["architecture"], entry["training"]
        cost = (f"{train['cpu_hours']:.1f} CPU-hours" if train.get("cpu_hours") is not None
                else f"{train['train_seconds'] / 60:.0f} min" if train.get("train_seconds")
                else "")
        device = train.get("device")
        if cost and isinstance(device, str) and device.startswith("gpu:"):
            cost += f" on one {device.split(':', 1)[1].split()[-1]}"  # "gpu:NVIDIA H200" -> H200
        semi = [_figure(entry, "top1", "fine-tuned", f"{p} of the labels") for p in ("1%", "10%")]
        lines.append(
            f"| `{name}` | {METHOD_NAMES.get(entry['method'], entry['method'])} | ResNet-"
            f"{arch['depth']} x{arch['width_multiplier']:g}, {entry['feature_dim']}-d | "
            f"{train['epochs']} epochs{', ' + cost if cost else ''} | "
            f"{_percent(_figure(entry, 'top1', 'k=200'))} / {_percent(_figure(entry, 'top1', 'k=20,'))} | "
            f"{_percent(_figure(entry, 'top1', 'L-BFGS'))} | "
            + (" / ".join(_percent(v) for v in semi) if any(v is not None for v in semi) else "-")
            + " |")
    return "\n".join(lines) + "\n"


CARDS_START, CARDS_END = "<!-- cards: sslhsic-zoo card -->\n", "\n<!-- end of cards -->"


def write_into(path, what, root=None):
    """Replaces, in the Markdown file `path`, the zoo's `what` ("cards": the text between
    docs/zoo.md's card markers; "table": the README's zoo table, found by its header line) with
    what the manifest gives now; returns True when the file changed."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if what == "cards":
        if CARDS_START not in text or CARDS_END not in text:
            raise ValueError(f"--write={path}: no card markers ({CARDS_START.strip()!r} ... "
                             f"{CARDS_END.strip()!r}); add them where the cards go")
        start = text.index(CARDS_START) + len(CARDS_START)
        new = text[:start] + all_cards(root).strip() + text[text.index(CARDS_END, start):]
    elif what == "table":
        fresh = table(root)
        header = fresh.splitlines()[0]
        lines = text.splitlines(keepends=True)
        first = next((i for i, line in enumerate(lines) if line.rstrip("\n") == header), None)
        if first is None:
            raise ValueError(f"--write={path}: no zoo table (a line {header!r}); paste "
                             "`sslhsic-zoo table` there once")
        last = first
        while last < len(lines) and lines[last].startswith("|"):
            last += 1
        new = "".join(lines[:first]) + fresh + "".join(lines[last:])
    else:
        raise ValueError(f"what={what!r}: expected 'cards' or 'table'")
    if new == text:
        return False
    with open(path, "w", encoding="utf-8") as f:
        f.write(new)
    return True
