r"""Self-supervised pretraining from a config file.

  python -m sslhsic_tf.pretrain --workdir=runs/demo
      the main job: SSL-HSIC on the embedded CIFAR-10 subset (configs/demo.py), about 10
      minutes on a 2-core CPU, then evaluation against a random encoder and export.
  python -m sslhsic_tf.pretrain --config=configs/cifar10_ssl_hsic.py --workdir=runs/c10 \
      --config.batch_size=256 --config.optimizer.base_learning_rate=0.3 --strategy=mirrored
  KERAS_BACKEND=jax python -m sslhsic_tf.pretrain ...      the JAX backend (GPUs)

A killed run restarts from its last checkpoint when started again with the same --workdir.
"""

import os
import sys

from absl import app, flags, logging
from ml_collections import config_flags

_DEMO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs", "demo.py")
if not os.path.exists(_DEMO):  # installed (non-editable): configs ship as sslhsic_tf.configs
    import sslhsic_tf.configs as _configs

    _DEMO = os.path.join(os.path.dirname(_configs.__file__), "demo.py")

config_flags.DEFINE_config_file(
    "config", os.path.normpath(_DEMO), "Config file (Python, get_config()); overrides as --config.KEY=VALUE.",
    lock_config=True,
)
flags.DEFINE_string("workdir", None, "Run folder (checkpoints, logs, export, results.json). "
                    "Default: runs/<config name>.")
flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multiworker", "tpu", "data_parallel"],
                  "Data-parallel engine: tf.distribute on TensorFlow; data_parallel/mirrored "
                  "(keras.distribution.DataParallel) on JAX.")
flags.DEFINE_string("tpu", "", "TPU name or address for --strategy=tpu.")
flags.DEFINE_enum("on_nonfinite", "stop", ["stop", "rollback"],
                  "Divergence policy: stop with the last good checkpoint intact, or roll back to "
                  "it and continue (at most 3 times).")
flags.DEFINE_bool("overwrite", False, "Replace an existing export folder.")
flags.DEFINE_bool("evaluate", True, "Evaluate (kNN, linear probe, random baseline) at the end.")
flags.DEFINE_integer("verbose", 1, "Keras progress output: 0 silent, 1 progress bar, 2 one line per interval.")
FLAGS = flags.FLAGS


def summary(results):
    """A few lines a person reads at the end of a run."""
    arch = results["architecture"]
    lines = [
        f"sslhsic_tf pretrain: {results['method']}, ResNet-{arch['depth']} x{arch['width_multiplier']:g}"
        f"{' (CIFAR stem)' if arch.get('cifar_stem') else ''}, {results['epochs']:.1f} epochs "
        f"({results['total_steps']} steps of {results['batch_size']}) in "
        f"{results.get('seconds', results['train_seconds']) / 60:.1f} min",
    ]
    if "knn_top1" in results:
        line = f"  kNN top-1 (k={results['knn_k']}, cosine): {100 * results['knn_top1']:.1f}%"
        if "baseline_random_knn_top1" in results:
            gain = 100 * (results["knn_top1"] - results["baseline_random_knn_top1"])
            line += (f"   random encoder: {100 * results['baseline_random_knn_top1']:.1f}%"
                     f"   ({gain:+.1f} points)")
        lines.append(line)
    if "linear_top1" in results:
        line = f"  linear probe top-1 ({results['linear_protocol']}): {100 * results['linear_top1']:.1f}%"
        if "baseline_random_linear_top1" in results:
            gain = 100 * (results["linear_top1"] - results["baseline_random_linear_top1"])
            line += (f"   random encoder: {100 * results['baseline_random_linear_top1']:.1f}%"
                     f"   ({gain:+.1f} points)")
        lines.append(line)
    lines.append(f"  export: {results['export_path']}")
    return "\n".join(lines)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    from sslhsic_tf.training import loop

    config = FLAGS.config
    name = os.path.splitext(os.path.basename(flags.FLAGS["config"].config_filename))[0]
    workdir = FLAGS.workdir or os.path.join("runs", name)
    results = loop.pretrain(
        config, workdir, strategy=FLAGS.strategy, tpu_address=FLAGS.tpu,
        on_nonfinite=FLAGS.on_nonfinite, overwrite=FLAGS.overwrite, evaluate=FLAGS.evaluate,
        verbose=FLAGS.verbose,
    )
    print(summary(results))
    print(f"  results: {os.path.join(os.path.abspath(workdir), 'results.json')}")


def run():
    """Console-script entry point (sslhsic-pretrain)."""
    logging.set_verbosity(logging.INFO)
    app.run(main)


if __name__ == "__main__":
    sys.exit(run())
