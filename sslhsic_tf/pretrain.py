r"""Self-supervised pretraining from a config file.

  python -m sslhsic_tf.pretrain --workdir=runs/demo
      the main job: SSL-HSIC on the embedded CIFAR-10 subset (configs/demo.py), about 5
      minutes on an idle 2-core CPU, then evaluation against a random encoder and export.
  python -m sslhsic_tf.pretrain --config=configs/cifar10_ssl_hsic.py --workdir=runs/c10 \
      --config.batch_size=256 --config.optimizer.base_learning_rate=0.3 --strategy=mirrored
  KERAS_BACKEND=jax python -m sslhsic_tf.pretrain ...      the JAX backend (GPUs)

A killed run restarts from its last checkpoint when started again with the same --workdir.
Errors in flags, config or data end the run with one line `error: <message>` (exit code 1, or 2
for the command line); --debug shows the traceback instead.
"""

import os
import shlex
import sys

from absl import app, flags, logging

from sslhsic_tf.training import cli

_DEMO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs", "demo.py")
if not os.path.exists(_DEMO):  # installed (non-editable): configs ship as sslhsic_tf.configs
    import sslhsic_tf.configs as _configs

    _DEMO = os.path.join(os.path.dirname(_configs.__file__), "demo.py")

cli.define_config_file(
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
                  "Divergence policy when a logged training value (loss, objective parts, probe "
                  "loss) becomes NaN/inf. stop: end with 'error: training diverged ...' (exit "
                  "1); the last good checkpoint stays the latest, and a restart resumes from "
                  "it. rollback: restore the last checkpoint and go on after the batch that "
                  "diverged, skipping the batches in between (recorded as skipped_batches in "
                  "results.json); at most 3 times, then as stop.")
flags.DEFINE_bool("overwrite", False, "Replace an existing export folder.")
flags.DEFINE_bool("evaluate", True, "Evaluate (kNN, linear probe, random baseline) at the end.")
flags.DEFINE_integer("verbose", 1, "Keras progress output: 0 silent, 1 progress bar, 2 one line per interval.")
flags.DEFINE_bool("deterministic", False, "Deterministic ops "
                  "(tf.config.experimental.enable_op_determinism, one inter-op thread; XLA GPU "
                  "deterministic ops on JAX): a run resumed from a checkpoint then ends with the "
                  "same weights as an uninterrupted one, on the same machine. Slower on GPUs.")
flags.DEFINE_integer("logical_cpus", 0, "Split the host CPU into this many logical devices "
                     "(tests of data parallelism on a CPU-only machine: --strategy=mirrored then "
                     "runs one replica per logical CPU). 0: leave the devices as they are.",
                     lower_bound=0)
FLAGS = flags.FLAGS


def summary(results):
    """A few lines a person reads at the end of a run."""
    arch = results["architecture"]
    trained = results.get("trained_steps", results["total_steps"])
    if trained < results["total_steps"]:  # --config.stop_after_epochs: part of a longer schedule
        length = (f"{results['trained_epochs']:.1f} of a {results['epochs']:.1f}-epoch schedule "
                  f"({trained} of {results['total_steps']} steps of {results['batch_size']})")
    else:
        length = (f"{results['epochs']:.1f} epochs "
                  f"({results['total_steps']} steps of {results['batch_size']})")
    took = f"{results.get('seconds', results['train_seconds']) / 60:.1f} min"
    if results.get("resumed_from_step") and "train_wall_seconds" in results:
        took += (f" (resumed at step {results['resumed_from_step']}; the whole run "
                 f"{results['train_wall_seconds'] / 3600:.2f} h, "
                 f"{results['train_cpu_seconds'] / 3600:.2f} CPU-hours)")
    lines = [
        f"sslhsic_tf pretrain: {results['method']}, ResNet-{arch['depth']} x{arch['width_multiplier']:g}"
        f"{' (CIFAR stem)' if arch.get('cifar_stem') else ''}, {length} in {took}",
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


def _configure_devices(deterministic, logical_cpus, strategy, on_device=False):
    """Applies --deterministic and --logical_cpus before the backend starts; returns the devices
    for make_strategy (None: its default). With the data on the device (JAX), TensorFlow is
    not imported at all."""
    jax = os.environ.get("KERAS_BACKEND") == "jax"
    if jax:
        xla = os.environ.get("XLA_FLAGS", "")
        if logical_cpus:
            xla += f" --xla_force_host_platform_device_count={logical_cpus}"
        if deterministic:
            xla += " --xla_gpu_deterministic_ops=true"
        os.environ["XLA_FLAGS"] = xla.strip()
        if on_device:
            return None
    import tensorflow as tf  # tf.data runs on either backend

    if deterministic:
        tf.config.experimental.enable_op_determinism()
        tf.config.threading.set_inter_op_parallelism_threads(1)
    if logical_cpus and not jax:
        cpus = tf.config.list_physical_devices("CPU")
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration()] * logical_cpus)
        if strategy == "mirrored":
            return [f"/cpu:{i}" for i in range(logical_cpus)]
    return None


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    config = FLAGS.config
    devices = _configure_devices(FLAGS.deterministic, FLAGS.logical_cpus, FLAGS.strategy,
                                 on_device=bool(config.data.get("on_device")))
    from sslhsic_tf.training import loop

    from sslhsic_tf.training.config_checks import apply_command_line_dataset

    apply_command_line_dataset(config, sys.argv[1:])
    name = os.path.splitext(os.path.basename(flags.FLAGS["config"].config_filename))[0]
    workdir = FLAGS.workdir or os.path.join("runs", name)
    results = loop.pretrain(
        config, workdir, strategy=FLAGS.strategy, tpu_address=FLAGS.tpu, devices=devices,
        on_nonfinite=FLAGS.on_nonfinite, overwrite=FLAGS.overwrite, evaluate=FLAGS.evaluate,
        verbose=FLAGS.verbose,
        command=" ".join(["python -m sslhsic_tf.pretrain", *map(shlex.quote, sys.argv[1:])]),
    )
    print(summary(results))
    print(f"  results: {os.path.join(os.path.abspath(workdir), 'results.json')}")


def run():
    """Console-script entry point (sslhsic-pretrain)."""
    logging.set_verbosity(logging.INFO)
    cli.run(main)


if __name__ == "__main__":
    sys.exit(run())
