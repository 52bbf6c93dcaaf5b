r"""Export the encoder of a pretraining run, optionally into the model zoo.

  python -m sslhsic_tf.export --workdir=runs/demo --name=my_encoder
      writes runs/demo/export/my_encoder (TF-Hub reusable SavedModel, serving signature)
  python -m sslhsic_tf.export --workdir=runs/c10 --name=ssl_hsic_r18_cifar10 --zoo
      writes <zoo>/ssl_hsic_r18_cifar10 and adds it to <zoo>/manifest.json with checksums and the
      run's evaluation figures (<zoo> = --zoo_root, $SSLHSIC_ZOO, or the repository's exports/)
  --format=keras writes the Keras 3 export archive instead (endpoint "serve", for TFSMLayer);
  --format=keras_hub a KerasHub preset (ImageNet stem, width 1: ResNetBackbone.from_preset).
  --dtype_policy: the exported encoder computes in float32 (default), whatever the run's
  mixed-precision policy (a bf16-trained encoder is rebuilt in float32 with the same weights:
  portable, fast on CPUs without bf16 instructions); "training" keeps the run's policy.

An existing target is never replaced without --overwrite.
"""

import json
import os
import sys

from absl import app, flags

from sslhsic_tf.training import cli

flags.DEFINE_string("workdir", None, "A pretraining run folder (holds model.keras, config.json).")
flags.DEFINE_string("name", None, "Export name (letters, digits, '._-').")
flags.DEFINE_enum("format", "hub", ["hub", "keras", "keras_hub"], "hub: TF-Hub reusable "
                  "SavedModel; keras: Keras export archive (endpoint 'serve'); keras_hub: a "
                  "KerasHub ResNetBackbone preset (ImageNet stem, width 1).")
flags.DEFINE_string("output", None, "Folder to write into (default: <workdir>/export, or the zoo).")
flags.DEFINE_bool("zoo", False, "Export into the zoo folder and add a manifest entry.")
flags.DEFINE_string("zoo_root", None, "Zoo folder (default: $SSLHSIC_ZOO or <repo>/exports).")
flags.DEFINE_bool("overwrite", False, "Replace an existing export / zoo entry of that name.")
flags.DEFINE_string("dtype_policy", "float32", "Dtype policy the exported encoder computes "
                    "under: a Keras policy name, or 'training' for the run's own policy.")
FLAGS = flags.FLAGS


def _read_json(path, what):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} not found: {path} (is --workdir a finished pretraining run?)")
    with open(path) as f:
        return json.load(f)


def evaluation_figures(results):
    """Zoo evaluation figures (metric, value, protocol) from a run's results.json."""
    from sslhsic_tf import data
    from sslhsic_tf.zoo import cards

    dataset = data.describe_spec(results["data"].get("test")) or ""
    return cards.figures({"results": results.get("evaluation", [])}, dataset=dataset)


def _schedule_epochs(config, results):
    """The entry's epochs: the command's `--config.epochs` where it set the schedule (whose steps
    round up to whole checkpoint intervals: 100 epochs of 195 steps train 19,600 steps, 100.5
    epochs; a run stopped early by `stop_after_epochs` keeps its schedule's length too), else
    the schedule's epochs rounded, at least 1 (a schedule set in steps or by a time budget)."""
    stated = config.get("epochs") or 0
    set_by_epochs = not config.get("total_steps") and not (config.get("budget") or {}).get("minutes")
    if set_by_epochs and stated and float(stated).is_integer():
        return int(stated)
    return max(1, int(round(results["epochs"])))


def _run_cost(results, repo=None):
    """What the run cost and how to repeat it, for the zoo entry: CPU-hours and wall hours over
    every process that trained it, the machine, the precision (and each process's, `segments`),
    the command (`portable_command` from `repo`, the zoo's repository), the kNN curve."""
    out = {}
    if "train_cpu_seconds" in results:
        out["cpu_hours"] = round(results["train_cpu_seconds"] / 3600, 2)
        out["wall_hours"] = round(results["train_wall_seconds"] / 3600, 2)
    for key in ("machine", "precision", "segments", "command", "knn_curve", "device",
                "train_seconds", "images_per_second", "budget"):
        if results.get(key):
            out[key] = results[key]
    if repo and out.get("command"):  # paths as seen from a clone of the zoo's repository
        out["command"] = portable_command(out["command"], repo)
    if results.get("resumed_from_step") and "wall_hours" in out:
        out.pop("train_seconds", None)  # the last process's alone; wall_hours covers them all
    return out


def portable_command(command, repo):
    """`command` with the absolute paths of flag values (after `=` or a spec's `:`) made relative
    to the repository `repo` where they lie in it or beside it (`/work/runs/x` -> `../runs/x`
    for repo `/work/main`), so that a zoo entry's command reads as run from a clone."""
    import re

    repo = os.path.abspath(repo)
    parent = os.path.dirname(repo)
    prefixes = [(repo + os.sep, "")]
    if os.path.dirname(parent) != parent:  # not the file system's root
        prefixes.append((parent + os.sep, ".." + os.sep))
    for prefix, replacement in prefixes:
        command = re.sub(r"(?<=[=:])" + re.escape(prefix), lambda _: replacement, command)
    return command


def export_run(workdir, name, *, fmt="hub", output=None, zoo=False, zoo_root=None, overwrite=False,
               dtype_policy="float32"):
    """Exports the encoder of the run in `workdir`; returns the export folder (and zoo info).

    `dtype_policy`: the policy the exported encoder computes under ("training": the run's)."""
    from sslhsic_tf import data, serving
    from sslhsic_tf import zoo as zoo_lib

    workdir = os.path.abspath(workdir)
    if not os.path.isdir(workdir):
        raise FileNotFoundError(f"--workdir={workdir} is not a folder (give a pretraining run folder)")
    if not name or not all(ch.isalnum() or ch in "._-" for ch in name):
        raise ValueError(f"--name={name!r}: use letters, digits and '._-' only")
    config = _read_json(os.path.join(workdir, "config.json"), "config.json")["config"]
    model_path = os.path.join(workdir, "model.keras")
    if not os.path.isfile(model_path):
        raise FileNotFoundError(f"{model_path} not found: the run in --workdir has not finished")
    if zoo:
        target_root = zoo_lib.root() if zoo_root is None else zoo_root
    else:
        target_root = output or os.path.join(workdir, "export")
    path = os.path.join(target_root, name)
    if os.path.exists(path) and not overwrite:  # checked before the model is loaded
        raise FileExistsError(f"{path} exists; pass --overwrite to replace it")
    if zoo:
        os.makedirs(target_root, exist_ok=True)
    if dtype_policy != "training":
        import keras

        try:
            keras.dtype_policies.get(dtype_policy)
        except ValueError:
            raise ValueError(f"--dtype_policy={dtype_policy!r}: expected a Keras dtype policy "
                             "name such as 'float32', or 'training'") from None
    model = serving.load_keras(model_path, compile=False)
    encoder = model.export_encoder()
    if dtype_policy != "training":
        encoder = serving.with_dtype_policy(encoder, dtype_policy)
    image_size = config["data"]["image_size"]
    meta = {"method": config["method"], "run": os.path.basename(workdir),
            "train_data": data.describe_spec(config["data"]["train"]),
            "compute_dtypes": sorted({layer.compute_dtype for layer in encoder.layers})}
    if fmt == "keras_hub":
        if zoo:
            raise ValueError("--format=keras_hub writes a KerasHub preset, not a zoo entry: "
                             "drop --zoo (zoo entries are SavedModels with encoder.keras)")
        serving.export_keras_hub_preset(encoder, path, overwrite=overwrite)
        return {"path": path}
    if fmt == "hub":
        serving.export_hub(encoder, path, image_size=image_size, overwrite=overwrite, metadata=meta)
    else:
        serving.export_keras(encoder, path, image_size=image_size, overwrite=overwrite, metadata=meta)
    # The Keras 3 artefact beside the SavedModel: the same float32 encoder as a .keras file
    # (zoo.load_model: trainable on any backend).
    serving.save_keras(encoder, os.path.join(path, zoo_lib.KERAS_FILE), overwrite=True)
    out = {"path": path}
    if zoo:
        results = _read_json(os.path.join(workdir, "results.json"), "results.json")
        arch = config["model"]
        out["zoo"] = zoo_lib.add_entry(
            path, name=name, method=config["method"], root=target_root, replace=overwrite,
            architecture={"name": "resnet", "depth": arch["depth"],
                          "width_multiplier": arch["width_multiplier"],
                          "stem": "cifar" if arch.get("cifar_stem") else "imagenet",
                          "padding": arch.get("padding", "same")},
            training={"dataset": config["data"]["train"].split(":")[0]
                      if not config["data"]["train"].startswith("demo") else "cifar10 (demo subset)",
                      "epochs": _schedule_epochs(config, results),
                      "steps": results["total_steps"], "batch_size": results["batch_size"],
                      "views": config["data"]["views"],
                      "source": data.describe_spec(config["data"]["train"]),
                      # the recipe as the run resolved it (a preset's defaults change over time)
                      "optimizer": {k: v for k, v in config["optimizer"].items() if v is not None},
                      **_run_cost(results, repo=os.path.dirname(os.path.abspath(target_root)))},
            evaluation=evaluation_figures(results),
        )
    return out


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if not FLAGS.workdir or not FLAGS.name:
        raise app.UsageError("--workdir and --name are required")
    out = export_run(FLAGS.workdir, FLAGS.name, fmt=FLAGS.format, output=FLAGS.output,
                     zoo=FLAGS.zoo, zoo_root=FLAGS.zoo_root, overwrite=FLAGS.overwrite,
                     dtype_policy=FLAGS.dtype_policy)
    print(f"exported {FLAGS.name} ({FLAGS.format}) to {out['path']}")
    if "zoo" in out:
        print(f"added to the zoo: {len(out['zoo']['files'])} files checksummed")


def run():
    """Console-script entry point (sslhsic-export)."""
    cli.run(main)


if __name__ == "__main__":
    sys.exit(run())
