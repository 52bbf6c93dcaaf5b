"""The prepared GPU run (issue 12): SSL-HSIC with a target on CIFAR-10 under JAX, no TensorFlow.

One command for a machine that has JAX with CUDA but no TensorFlow (the repository is there,
`../shared` is not: carry the JPEG archive, 19.6 MB, in a git-ignored folder):

    KERAS_BACKEND=jax python -m benchmarks.accelerator --zoo-run OUT \\
        --archive data_cache/cifar10_jpeg_q75.tar.gz            # about 7 minutes of training
    KERAS_BACKEND=jax python -m benchmarks.accelerator --zoo-run OUT --smoke   # CPU, a minute

It decodes the archive with pillow (`data.arrays`), holds the uint8 train split on the device,
and trains ResNet-18 (CIFAR stem, width 1, torchvision padding) with SSL-HSIC and its EMA
target in `mixed_bfloat16`: the CIFAR recipe (LARS lr 1.0 x B/256, trust 0.02, weight decay
1e-5, the cifar10 views: crops and colour inside the jitted step by `device.augment_views`).
The LR and EMA schedules run over `--steps` (planned from `--planned-images-per-second`); the
loop stops cleanly at the first step past the `--minutes` budget. Then: kNN (k = 200, cosine)
on the test split, on the device; the encoder's weights in `encoder_weights.NNN.npz` files of at
most 15 MiB each plus `encoder.json` (its `models.resnet` arguments); a timed supervised step of
the same encoder; `summary.json` and a printed table: img/s, model-FLOP utilisation against the
chip's bf16 peak, SSL step / (supervised step + target forward), compile and data-load seconds.

Back on a CPU with TensorFlow, the weights become a SavedModel (and a zoo entry with --zoo):

    python -m benchmarks.zoo_run export OUT --name ssl_hsic_resnet18_cifar10_gpu [--zoo]
"""

import argparse
import json
import math
import os
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

MAX_FILE_BYTES = 15 * 2 ** 20
VIEWS = "cifar10"  # the SSL-HSIC CIFAR preset's views
FULL = {"width": 1.0, "batch": 512, "minutes": 7.0, "heads": {}}
SMOKE = {"width": 0.125, "batch": 32, "minutes": 0.5, "steps": 4,
         "heads": {"projector_hidden": 64, "projection_dim": 32, "predictor_hidden": 64,
                   "num_features": 64, "bandwidth_points": 64}}


def add_arguments(parser):
    parser.add_argument("--archive", default="data_cache/cifar10_jpeg_q75.tar.gz",
                        help="the CIFAR-10 JPEG archive (--smoke: the embedded demo subset)")
    parser.add_argument("--minutes", type=float, default=0.0, help="training budget (0: 7)")
    parser.add_argument("--zoo-batch", type=int, default=0, help="B (0: 512; smoke 32)")
    parser.add_argument("--zoo-steps", type=int, default=0,
                        help="schedule length (0: minutes x planned img/s / B)")
    parser.add_argument("--planned-images-per-second", type=float, default=12000.0,
                        help="SSL img/s expected on the GPU, to size the schedules")
    parser.add_argument("--smoke", action="store_true", help="tiny CPU run of the same code")


def _settings(args):
    preset = SMOKE if args.smoke else FULL
    batch = args.zoo_batch or preset["batch"]
    minutes = args.minutes or preset["minutes"]
    steps = args.zoo_steps or preset.get("steps") or max(
        10, int(minutes * 60 * args.planned_images_per_second / batch))
    return preset, batch, minutes, steps


def _save_weights(encoder, out_dir):
    """The encoder's weights (in `encoder.weights` order) in npz files of <= 15 MiB each."""
    import numpy as np

    files, chunk, size = [], {}, 0
    for i, w in enumerate(encoder.get_weights()):
        if chunk and size + w.nbytes > MAX_FILE_BYTES - 2 ** 16:
            files.append(chunk)
            chunk, size = {}, 0
        chunk[f"w{i:04d}"] = w
        size += w.nbytes
    files.append(chunk)
    names = []
    for k, chunk in enumerate(files):
        name = f"encoder_weights.{k:03d}.npz"
        np.savez(os.path.join(out_dir, name), **chunk)
        names.append(name)
    return names


def _load_weights(out_dir):
    import numpy as np

    weights = {}
    for name in sorted(os.listdir(out_dir)):
        if name.startswith("encoder_weights.") and name.endswith(".npz"):
            with np.load(os.path.join(out_dir, name)) as f:
                weights.update({k: f[k] for k in f.files})
    return [weights[k] for k in sorted(weights)]


def run(args, out_dir):
    import jax
    import keras
    import numpy as np

    from benchmarks import accelerator
    from sslhsic_tf import methods, models
    from sslhsic_tf.data import arrays, device
    from sslhsic_tf.evaluation import knn
    from sslhsic_tf.utils import random as rng_lib

    preset, batch, minutes, planned_steps = _settings(args)
    os.makedirs(out_dir, exist_ok=True)
    t0 = time.time()
    archive = arrays.DEMO_ARCHIVE if args.smoke else args.archive
    x_train, y_train = arrays.cifar10_archive_arrays(archive, "train")
    x_test, y_test = arrays.cifar10_archive_arrays(archive, "test")
    train_images = jax.device_put(x_train)
    data_seconds = time.time() - t0

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    keras.utils.set_random_seed(0)
    encoder_args = {"depth": 18, "width_multiplier": preset["width"], "cifar_stem": True,
                    "padding": "symmetric", "input_shape": [32, 32, 3]}
    encoder = models.resnet(**{**encoder_args, "input_shape": (32, 32, 3)})
    model = methods.create(
        "ssl_hsic", encoder, total_steps=planned_steps, batch_size=batch, num_classes=10,
        bandwidth_learning_rate=1e-2,
        optimizer_config={"base_learning_rate": 1.0, "trust_coefficient": 0.02,
                          "weight_decay": 1e-5}, **preset["heads"])
    model.compile()
    state = ([v.value for v in model.trainable_variables],
             [v.value for v in model.non_trainable_variables],
             [v.value for v in model.optimizer.variables],
             [v.value for v in model.metrics_variables])

    def step_fn(state, images, labels, step):
        views = device.augment_views(images, rng_lib.stateless_seed(12345, step), VIEWS)
        return model.train_step(state, {"views": views, "label": labels})

    per_epoch = len(x_train) // batch
    order = jax.random.permutation(jax.random.key(0), len(x_train))
    labels_device = jax.device_put(y_train)

    def batch_at(step):  # `order`: this epoch's permutation, drawn once per epoch by the loop
        idx = jax.lax.dynamic_slice_in_dim(order, (step % per_epoch) * batch, batch)
        return train_images[idx], labels_device[idx]

    t1 = time.time()
    images, labels = batch_at(0)
    compiled = jax.jit(step_fn, donate_argnums=0).lower(
        state, images, labels, np.int32(0)).compile()
    compile_seconds = time.time() - t1

    budget, logs, step = minutes * 60.0, {}, 0
    t_train = time.time()
    while step < planned_steps and time.time() - t_train < budget:
        if step % per_epoch == 0 and step:
            order = jax.random.permutation(jax.random.key(step // per_epoch), len(x_train))
        images, labels = batch_at(step)
        logs, state = compiled(state, images, labels, np.int32(step))
        step += 1
        if step == 3:  # the timing starts after the first steps (allocation, autotuning)
            jax.block_until_ready(state)
            t_steady, steady_from = time.time(), step
    jax.block_until_ready(state)
    train_seconds = time.time() - t_train
    steady = time.time() - t_steady if step > 3 else train_seconds
    ssl_seconds = steady / max(step - steady_from, 1) if step > 3 else train_seconds / step
    for variable, value in zip(model.trainable_variables, state[0]):
        variable.assign(value)
    for variable, value in zip(model.non_trainable_variables, state[1]):
        variable.assign(value)

    keras.mixed_precision.set_global_policy("float32")
    features = jax.jit(lambda tv, ntv, x: encoder.stateless_call(tv, ntv, x, training=False)[0])
    tv = [v.value for v in encoder.trainable_variables]
    ntv = [v.value for v in encoder.non_trainable_variables]

    def encode(x):
        return np.concatenate([np.asarray(features(tv, ntv, x[i:i + 1000].astype("float32") / 255))
                               for i in range(0, len(x), 1000)]).astype("float32")

    (record,) = knn.knn_evaluate(encode(x_train), y_train, encode(x_test), y_test, ks=(200,),
                                 num_classes=10)
    files = _save_weights(encoder, out_dir)
    with open(os.path.join(out_dir, "encoder.json"), "w") as f:
        json.dump(encoder_args, f)

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    sup_model, _, _ = accelerator._build("supervised", 18, preset["width"], True, 32,
                                                 batch, 10)
    sup_example = (jax.numpy.asarray(np.random.default_rng(0).random((2 * batch, 32, 32, 3),
                                                                     dtype=np.float32)),
                   jax.numpy.asarray(np.zeros(2 * batch, np.int32)))
    sup_step, _ = accelerator._jax_step("supervised", sup_model, None, sup_example)
    _, fwd_encoder, _ = accelerator._build("forward", 18, preset["width"], True,
                                                           32, batch, 10)
    fwd_step, _ = accelerator._jax_step("forward", None, fwd_encoder, sup_example[0])
    timings = {}
    for name, fn, example in (("supervised", sup_step, sup_example),
                              ("forward", fwd_step, sup_example[0])):
        accelerator._block(fn(0, example))
        t = time.time()
        repeats = 3 if args.smoke else 20
        for i in range(repeats):
            out = fn(i, example)
        accelerator._block(out)
        timings[name] = (time.time() - t) / repeats

    enc_macs = accelerator.conv_dense_macs(encoder)
    flops = accelerator.step_flops("ssl_hsic", batch, enc_macs,
                                   projector=accelerator.conv_dense_macs(model.projector),
                                   predictor=accelerator.conv_dense_macs(model.predictor),
                                   classifier=accelerator.conv_dense_macs(model.probe))
    device_name = f"{jax.devices()[0].platform}:{jax.devices()[0].device_kind}"
    summary = {
        "device": device_name, "steps": step, "planned_steps": planned_steps, "batch": batch,
        "epochs": step * batch / len(x_train), "width": preset["width"],
        "images_per_second": batch / ssl_seconds, "ssl_step_seconds": ssl_seconds,
        "supervised_step_seconds": timings["supervised"], "forward_seconds": timings["forward"],
        "ssl_over_supervised_plus_forward": ssl_seconds / (timings["supervised"]
                                                           + timings["forward"]),
        "model_tflops_per_step": flops / 1e12,
        "mfu_vs_bf16_peak": flops / ssl_seconds / (accelerator.DEFAULT_PEAK_TFLOPS * 1e12),
        "knn_top1": record["top1"], "knn": record, "compile_seconds": compile_seconds,
        "data_seconds": data_seconds, "train_seconds": train_seconds,
        "total_seconds": time.time() - t0, "loss": float(logs.get("loss", math.nan)),
        "weight_files": files, "archive": os.path.basename(str(archive)),
        "smoke": bool(args.smoke),
    }
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(f"\nSSL-HSIC (target) ResNet-18 x{preset['width']:g} CIFAR, B {batch}, bf16, "
          f"{device_name}: {step} steps ({summary['epochs']:.1f} epochs) in {train_seconds:.0f} s")
    print("| img/s | MFU (bf16 peak) | SSL / (sup + fwd) | kNN top-1 | compile s | data s |")
    print("|---|---|---|---|---|---|")
    print(f"| {summary['images_per_second']:.0f} | {100 * summary['mfu_vs_bf16_peak']:.1f}% | "
          f"{summary['ssl_over_supervised_plus_forward']:.2f} | {100 * record['top1']:.1f} | "
          f"{compile_seconds:.0f} | {data_seconds:.0f} |")
    return summary


def export(out_dir, name, zoo):
    """CPU side (TensorFlow): the saved weights -> a TF-Hub SavedModel (and a zoo entry)."""
    from sslhsic_tf import models, serving
    from sslhsic_tf import zoo as zoo_lib

    with open(os.path.join(out_dir, "encoder.json")) as f:
        encoder_args = json.load(f)
    with open(os.path.join(out_dir, "summary.json")) as f:
        summary = json.load(f)
    encoder = models.resnet(**{**encoder_args, "input_shape": tuple(encoder_args["input_shape"])})
    encoder.set_weights(_load_weights(out_dir))
    path = os.path.join(zoo_lib.root() if zoo else os.path.join(out_dir, "export"), name)
    serving.export_hub(encoder, path, image_size=32,
                       metadata={"method": "ssl_hsic", "gpu_run": summary["device"]})
    print(f"exported {path}")
    if zoo:
        knn = summary["knn"]
        zoo_lib.add_entry(
            path, name=name, method="ssl_hsic",
            architecture={"name": "resnet", "depth": 18, "width_multiplier": summary["width"],
                          "stem": "cifar", "padding": "symmetric"},
            training={"dataset": "cifar10", "source": summary["archive"],
                      "epochs": max(1, int(round(summary["epochs"]))), "steps": summary["steps"],
                      "batch_size": summary["batch"], "views": VIEWS,
                      "device": summary["device"], "train_seconds": summary["train_seconds"],
                      "command": "KERAS_BACKEND=jax python -m benchmarks.accelerator --zoo-run "
                                 "OUT --archive cifar10_jpeg_q75.tar.gz"},
            evaluation=[{"metric": "top1", "value": float(knn["top1"]), "dataset": "cifar10:test",
                         "protocol": f"kNN, cosine, k={knn['k']}, T={knn['temperature']}, frozen "
                                     "encoder (BN inference)"}])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    e = sub.add_parser("export", help="weights -> SavedModel (CPU, TensorFlow)")
    e.add_argument("out_dir")
    e.add_argument("--name", required=True)
    e.add_argument("--zoo", action="store_true")
    args = parser.parse_args(argv)
    export(args.out_dir, args.name, args.zoo)


if __name__ == "__main__":
    main()
