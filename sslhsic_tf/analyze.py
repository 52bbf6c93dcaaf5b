r"""Kernel-dependence diagnostics of encoders on an image source, to JSON and PNG dashboards.

  python -m sslhsic_tf.analyze --encoder=zoo:cissl_resnet18x0.25_cifar10 \
      --encoder=random:resnet18x0.25 --data=demo:test --knn_train=demo:train --out=analysis

--encoder (repeatable): a pretraining run folder, a `.keras` file, `zoo:NAME`, a SavedModel
folder from sslhsic_tf.export, or `random:resnetDEPTHxWIDTH` (a randomly initialised encoder,
seeded by --seed, CIFAR stem for images of 64 px or less). For each: HSIC(Z, Y_identity),
HSIC(Z, Z) and the SSL-HSIC loss over --num_views augmented views of --num_images images (exact
kernels, or random features with their spread for large N), InfoNCE, alignment, uniformity,
RankMe, label CKA and, with --knn_train, kNN top-1 (k = 200) of every --data image
(`sslhsic_tf.analysis.report`). Writes OUT/analysis.json (every encoder) and OUT/NAME.png, and
prints a Markdown table.
"""

import json
import os
import sys

from absl import app, flags

from sslhsic_tf.training import cli

flags.DEFINE_multi_string("encoder", None, "Run folder, .keras file, zoo:NAME, SavedModel folder "
                          "or random:resnetDEPTHxWIDTH; repeat for several.")
flags.DEFINE_string("data", None, "Image source analysed (a data spec, e.g. demo:test, "
                    "cifar10_archive:PATH:test, folder:DIR).")
flags.DEFINE_string("knn_train", None, "Labelled source for kNN (e.g. demo:train); none: no kNN.")
flags.DEFINE_string("views", None, "Augmentation preset of the views (default: the run's, else "
                    "by image size: cifar10, issl_tinyimagenet, byol).")
flags.DEFINE_string("eval_config", None, "Evaluation transform (default: the run's, else by size).")
flags.DEFINE_integer("num_images", 1000, "Images analysed (N).")
flags.DEFINE_integer("num_views", 4, "Augmented views per image (M >= 2).")
flags.DEFINE_enum("kernel", "imq", ["imq", "gaussian", "linear"], "Kernel of the HSIC terms.")
flags.DEFINE_float("bandwidth", None, "Kernel bandwidth (default: median pairwise distance).")
flags.DEFINE_float("gamma", 3.0, "SSL-HSIC's gamma.")
flags.DEFINE_float("temperature", 0.1, "InfoNCE temperature.")
flags.DEFINE_integer("seed", 0, "Seed of the images drawn, the views, random features/encoders.")
flags.DEFINE_integer("batch_size", 256, "Batch size of the encoder.")
flags.DEFINE_string("out", "analysis", "Output folder.")
FLAGS = flags.FLAGS

_BY_SIZE = ((32, "cifar10", "cifar10"), (64, "issl_tinyimagenet", "tinyimagenet"),
            (None, "byol", "imagenet"))


def _default(size, config, key):
    if config and config.get("data", {}).get(key):
        return config["data"][key]
    for limit, views, eval_config in _BY_SIZE:
        if limit is None or size <= limit:
            return views if key == "views" else eval_config


def load(spec, image_size, seed):
    """(encoder, run config or None, name) from an --encoder value."""
    from sslhsic_tf import evaluation

    if spec.startswith("random:"):
        encoder, _, _ = evaluation.load_encoder(spec, image_size=image_size, seed=seed)
        return encoder, None, spec.replace(":", "_")
    encoder, config, _ = evaluation.load_encoder(spec)
    name = spec[4:] if spec.startswith("zoo:") else os.path.basename(os.path.normpath(spec))
    return encoder, config, name


def markdown_table(reports):
    """The reports as a Markdown table (one row per encoder)."""
    from sslhsic_tf.analysis.report import ROWS

    keys = [r for r in ROWS if any(r[0] in rep["metrics"] for rep in reports)]
    lines = ["| encoder | " + " | ".join(label for _, label, _ in keys) + " |",
             "|---" * (len(keys) + 1) + "|"]
    for rep in reports:
        cells = [fmt.format(rep["metrics"][k]) if k in rep["metrics"] else "-"
                 for k, _, fmt in keys]
        lines.append(f"| {rep['name']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if not FLAGS.encoder:
        raise app.UsageError("--encoder is required (repeat it for several encoders)")
    if not FLAGS.data:
        raise app.UsageError("--data is required (the images analysed, e.g. --data=demo:test)")
    from sslhsic_tf.analysis import report
    from sslhsic_tf.training.loop import load_source

    source = load_source(FLAGS.data, "--data")
    knn_train = load_source(FLAGS.knn_train, "--knn_train") if FLAGS.knn_train else None
    if FLAGS.num_images > source.num_examples:
        raise ValueError(f"--num_images={FLAGS.num_images} but --data={FLAGS.data} has "
                             f"{source.num_examples} images: pass --num_images<="
                             f"{source.num_examples}")
    size = int(source.image_shape[0]) if source.image_shape and source.image_shape[0] else 224
    os.makedirs(FLAGS.out, exist_ok=True)
    reports = []
    for spec in FLAGS.encoder:
        encoder, config, name = load(spec, size, FLAGS.seed)
        views = FLAGS.views or _default(size, config, "views")
        eval_config = FLAGS.eval_config or _default(size, config, "eval")
        try:
            rep = report.analyze(
                encoder, source, views=views, eval_config=eval_config,
                num_images=FLAGS.num_images, num_views=FLAGS.num_views, seed=FLAGS.seed,
                kernel=FLAGS.kernel, bandwidth=FLAGS.bandwidth, gamma=FLAGS.gamma,
                temperature=FLAGS.temperature, knn_train=knn_train, batch_size=FLAGS.batch_size,
                name=f"--encoder={spec}")
        except ValueError as e:
            raise ValueError(f"{e} (--data={FLAGS.data}, --views={views}, "
                             f"--eval_config={eval_config})") from None
        rep["name"], rep["encoder"], rep["data"] = name, spec, FLAGS.data
        reports.append(rep)
    for rep in reports:
        others = [o for o in reports if o is not rep]
        rep["dashboard"] = report.plot_dashboard(rep, os.path.join(FLAGS.out, f"{rep['name']}.png"),
                                                 others=others)
    with open(os.path.join(FLAGS.out, "analysis.json"), "w") as f:
        json.dump({"data": FLAGS.data, "knn_train": FLAGS.knn_train, "encoders": reports}, f)
    print(markdown_table(reports))
    print(f"results: {os.path.join(FLAGS.out, 'analysis.json')}; dashboards: "
          + ", ".join(rep["dashboard"] for rep in reports))


def run():
    """Console-script entry point (sslhsic-analyze)."""
    cli.run(main)


if __name__ == "__main__":
    sys.exit(run())
