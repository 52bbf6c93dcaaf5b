r"""Evaluate a frozen (or fine-tuned) encoder with the standard protocols, to JSON.

  python -m sslhsic_tf.evaluate --encoder=runs/demo --output=runs/demo/eval.json
  python -m sslhsic_tf.evaluate --encoder=zoo:ssl_hsic_resnet18_cifar10 \
      --train=cifar10_archive:../shared/data/cifar10/cifar10_jpeg_q75.tar.gz:train \
      --test=cifar10_archive:../shared/data/cifar10/cifar10_jpeg_q75.tar.gz:test \
      --protocols=knn,linear_lbfgs,linear_sgd,finetune,semi_supervised

--encoder: a pretraining run folder (its encoder.keras), a `.keras` file, `zoo:NAME` (the
entry's Keras artefact: every protocol, fine-tuning included), `random:resnetDEPTHxWIDTH` (a
random encoder, the baseline), or a SavedModel folder from sslhsic_tf.export (the frozen
protocols only: knn, linear_lbfgs, linear_sgd). Protocols (evaluation.md): kNN (cosine, k = 20 and 200, votes
weighted by exp(sim/0.07)); offline linear probe by L-BFGS on cached features or by SGD with
augmentation (frozen encoder, BatchNorm in inference mode); fine-tuning; semi-supervised 1% / 10%
class-balanced subsets chosen by --seed (the indices are saved next to --output). Every figure
in the JSON carries its protocol; top-1 and top-5.
"""

import os
import sys

from absl import app, flags

from sslhsic_tf.training import cli

flags.DEFINE_string("encoder", None, "Run folder, .keras file, zoo:NAME, random:resnetDEPTHxWIDTH, "
                    "or SavedModel folder.")
flags.DEFINE_string("train", None, "Training data spec (default: the run's config data.train).")
flags.DEFINE_string("test", None, "Test data spec (default: the run's config data.test).")
flags.DEFINE_string("eval_config", None, "Evaluation transform preset (cifar10, imagenet, "
                    "tinyimagenet) or size; default: the run's, else from the image size.")
flags.DEFINE_list("protocols", ["knn", "linear_lbfgs"], "knn, linear_lbfgs, linear_sgd, finetune, "
                  "semi_supervised.")
flags.DEFINE_list("knn_k", ["20", "200"], "k values for kNN.")
flags.DEFINE_float("knn_temperature", 0.07, "kNN vote temperature.")
flags.DEFINE_integer("linear_epochs", 90, "Epochs of the SGD linear probe (also on the "
                     "semi-supervised subsets with --semi_protocol=linear_sgd).")
flags.DEFINE_integer("finetune_epochs", 30, "Epochs of fine-tuning (also on the semi-supervised "
                     "subsets with --semi_protocol=finetune).")
flags.DEFINE_list("fractions", ["0.01", "0.1"], "Label fractions of the semi-supervised protocol.")
flags.DEFINE_enum("semi_protocol", "linear_lbfgs", ["linear_lbfgs", "linear_sgd", "finetune"],
                  "Protocol trained on each semi-supervised subset.")
flags.DEFINE_integer("seed", 0, "Seed of subsets and of the SGD protocols.")
flags.DEFINE_integer("batch_size", 256, "Batch size of feature extraction and training.")
flags.DEFINE_string("output", None, "JSON file to write (default: <run>/evaluation_cli.json or ./evaluation.json).")
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if not FLAGS.encoder:
        raise app.UsageError("--encoder is required")
    from sslhsic_tf import data, evaluation

    encoder, config, trainable = evaluation.load_encoder(FLAGS.encoder, seed=FLAGS.seed)
    protocols = tuple(FLAGS.protocols)
    trains_encoder = "finetune" in protocols or (
        "semi_supervised" in protocols and FLAGS.semi_protocol == "finetune")
    if not trainable and trains_encoder:
        raise app.UsageError(f"--encoder={FLAGS.encoder}: fine-tuning needs a Keras encoder (a "
                             "run folder, a .keras file, zoo:NAME or random:...), not a "
                             "SavedModel folder")
    train_spec = FLAGS.train or (config or {}).get("data", {}).get("train")
    test_spec = FLAGS.test or (config or {}).get("data", {}).get("test")
    if not train_spec or not test_spec:
        raise app.UsageError("--train and --test are required for this --encoder")
    eval_config = FLAGS.eval_config or (config or {}).get("data", {}).get("eval") or "auto"
    from sslhsic_tf.training.loop import load_source

    train = load_source(train_spec, "--train" if FLAGS.train else "data.train of the run")
    test = load_source(test_spec, "--test" if FLAGS.test else "data.test of the run")
    if eval_config != "auto":
        train_data = data.eval_dataset(train, eval_config, FLAGS.batch_size)
        test_data = data.eval_dataset(test, eval_config, FLAGS.batch_size)
    else:
        train_data = data.eval_dataset(train, train.image_shape[0], FLAGS.batch_size)
        test_data = data.eval_dataset(test, train.image_shape[0], FLAGS.batch_size)
    output = FLAGS.output or (
        os.path.join(FLAGS.encoder, "evaluation_cli.json") if os.path.isdir(FLAGS.encoder)
        and config else "evaluation.json")
    # The epochs flags reach the protocol trained on each semi-supervised subset too.
    semi_epochs = {"finetune": {"epochs": FLAGS.finetune_epochs},
                   "linear_sgd": {"epochs": FLAGS.linear_epochs}}
    report = evaluation.evaluate_encoder(
        encoder, train_data, test_data, protocols=protocols, num_classes=train.num_classes,
        batch_size=FLAGS.batch_size, eval_config=eval_config,
        knn={"ks": tuple(int(k) for k in FLAGS.knn_k), "temperature": FLAGS.knn_temperature},
        linear_sgd={"epochs": FLAGS.linear_epochs, "seed": FLAGS.seed},
        finetune={"epochs": FLAGS.finetune_epochs, "seed": FLAGS.seed},
        semi_supervised={"fractions": tuple(float(f) for f in FLAGS.fractions), "seed": FLAGS.seed,
                         "protocol": FLAGS.semi_protocol,
                         "save_dir": os.path.dirname(os.path.abspath(output)),
                         **semi_epochs.get(FLAGS.semi_protocol, {})},
        data_name=f"train={train_spec} test={test_spec}", results_path=output,
    )
    for r in report["results"]:
        settings = ", ".join(f"{k}={r[k]}" for k in ("k", "fraction", "epochs", "l2") if k in r)
        top5 = "" if r.get("top5") is None else f"  top-5 {100 * r['top5']:.1f}%"
        print(f"{r['protocol']:>16} ({settings}): top-1 {100 * r['top1']:.1f}%{top5}")
    print(f"results: {output}")


def run():
    """Console-script entry point (sslhsic-evaluate)."""
    cli.run(main)


if __name__ == "__main__":
    sys.exit(run())
