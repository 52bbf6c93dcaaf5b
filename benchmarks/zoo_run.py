"""The prepared GPU run (issue 12): SSL-HSIC with a target on CIFAR-10 under JAX, no TensorFlow.

One command for a machine that has JAX with CUDA but no TensorFlow (the repository is there,
`../shared` is not: carry the JPEG archive, 19.6 MB, in a git-ignored folder):

    KERAS_BACKEND=jax python -m benchmarks.accelerator --zoo-run OUT \\
        --archive data_cache/cifar10_jpeg_q75.tar.gz --total-minutes 8   # the whole command
    KERAS_BACKEND=jax python -m benchmarks.accelerator --zoo-run OUT --smoke   # CPU, ~1.5 min
    KERAS_BACKEND=jax python -m benchmarks.accelerator --zoo-run OUT --plan-only  # data+compile

It decodes the archive with pillow in worker processes (`data.arrays`, before JAX starts), holds
the uint8 train split on the device, and trains ResNet-18 (CIFAR stem, width 1, torchvision
padding) with SSL-HSIC and its EMA target in `mixed_bfloat16`: the CIFAR recipe (LARS lr
1.0 x B/256, trust 0.02, weight decay 1e-5, the cifar10 views: the batch gather, crops and
colour inside the jitted step by `device.augment_views`), LR warmup 4% of the run.

The budget is wall-clock: `--total-minutes` from the command's start (data, model build and JIT
compile count), training ends `--reserve-seconds` before it, at a step. The model is built for a
planned step count (`--planned-images-per-second`, on purpose too high); after 20 timed steps,
and every 300 after, `ScheduleClock` fits the LR, EMA and warmup schedules to the measured speed
so they end exactly at the last step the budget allows. At most one step is in flight (the
budget checks are real), and a non-finite loss stops the run. Then, in order of value: the
encoder's weights in `encoder_weights.NNN.npz` files of at most 15 MiB each plus `encoder.json`
(its `models.resnet` arguments) and `summary.json`; kNN (k = 200, cosine) on the test split
from a float32 copy of the encoder on the device; a timed supervised step of the same encoder
and a forward pass (skipped if the budget is spent); a printed table: img/s, model-FLOP
utilisation against the chip's bf16 peak, SSL step / (supervised step + target forward), kNN,
compile, data and total seconds. CPU measurements (2 shared cores, `--plan-only`, full size):
data 24 s (one process), model build 24 s, SSL step compile 46 s.

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
FULL = {"width": 1.0, "batch": 512, "total_minutes": 8.0, "reserve_seconds": 150.0,
        "calibrate_steps": 20, "recalibrate_every": 300, "heads": {}}
SMOKE = {"width": 0.125, "batch": 32, "total_minutes": 4.0, "reserve_seconds": 20.0,
         "steps": 8, "calibrate_steps": 2, "recalibrate_every": 3, "print_seconds": 0.0,
         "heads": {"projector_hidden": 64, "projection_dim": 32, "predictor_hidden": 64}}
# The methods this run trains (the CIFAR EMA base 0.99 where there is a target; the no-target
# SSL-HSIC has no predictor) and their own settings; the smoke adds tiny random-feature settings.
METHOD_KWARGS = {"ssl_hsic": {"bandwidth_learning_rate": 1e-2},
                 "ssl_hsic_no_target": {"bandwidth_learning_rate": 1e-2},
                 "byol": {"tau_base": 0.99}}
SMOKE_METHOD_KWARGS = {"ssl_hsic": {"num_features": 64, "bandwidth_points": 64},
                       "ssl_hsic_no_target": {"num_features": 64, "bandwidth_points": 64},
                       "byol": {}}
WARMUP_STEPS = 3  # untimed first steps (allocation, autotuning)
LOGGED = ("loss", "hsic_zy", "hsic_zz", "bandwidth", "probe_top1", "learning_rate", "tau")


def add_arguments(parser):
    parser.add_argument("--archive", default="data_cache/cifar10_jpeg_q75.tar.gz",
                        help="the CIFAR-10 JPEG archive (--smoke: the embedded demo subset)")
    parser.add_argument("--total-minutes", type=float, default=0.0,
                        help="wall-clock budget of the whole command, from its start: training "
                             "ends --reserve-seconds before it (0: 8; smoke 4)")
    parser.add_argument("--reserve-seconds", type=float, default=-1.0,
                        help="seconds kept after training for kNN, the weight files and the "
                             "supervised timing (-1: 150; smoke 20)")
    parser.add_argument("--minutes", type=float, default=0.0,
                        help="training budget in minutes; 0: whatever --total-minutes leaves")
    parser.add_argument("--zoo-batch", type=int, default=0, help="B (0: 512; smoke 32)")
    parser.add_argument("--zoo-steps", type=int, default=0,
                        help="a fixed-length run of this many steps (the budget may still "
                             "stop it); 0: as many as the budget allows (smoke: 8)")
    parser.add_argument("--planned-images-per-second", type=float, default=40000.0,
                        help="SSL img/s expected on the GPU, to size the schedules before the "
                             "speed is measured (they are then fitted to the measured speed; "
                             "plan high, so each step advances the step counters by >= 1 and "
                             "no two steps share a step seed)")
    parser.add_argument("--warmup-fraction", type=float, default=0.04,
                        help="LR warmup as a fraction of the run (the 1000-epoch recipe's 1%% "
                             "is a fraction of an epoch in a run of minutes)")
    parser.add_argument("--method", choices=sorted(METHOD_KWARGS), default="ssl_hsic",
                        help="the SSL method (ssl_hsic_no_target, and BYOL for comparison, in "
                             "the same harness)")
    parser.add_argument("--plan-only", action="store_true",
                        help="decode the data and compile the step, print the seconds, stop "
                             "(to plan the 10-minute limit on a CPU)")
    parser.add_argument("--smoke", action="store_true", help="tiny CPU run of the same code")


def _settings(args):
    preset = SMOKE if args.smoke else FULL
    batch = args.zoo_batch or preset["batch"]
    total = 60.0 * (args.total_minutes or preset["total_minutes"])
    reserve = preset["reserve_seconds"] if args.reserve_seconds < 0 else args.reserve_seconds
    minutes = args.minutes or max(total - reserve, 60.0) / 60.0
    steps = args.zoo_steps or preset.get("steps") or max(
        10, int(minutes * 60 * args.planned_images_per_second / batch))
    return preset, batch, total, reserve, minutes, steps


class ScheduleClock:
    """Maps the loop's step to the schedules' step so that the LR, EMA and warmup schedules of a
    `planned`-step run end exactly when the wall-clock budget does.

    The model is built (and its step compiled) for `planned` steps before the speed is known.
    Every `recalibrate_every` steps the loop measures its speed, predicts the number of steps
    `fit` left until `deadline`, and from there on advances the schedule position linearly from
    where it is to `planned` at the predicted last step. Before the first measurement the two
    agree. `position(step)` is written into every optimizer step counter before each step.
    """

    def __init__(self, planned, fixed=False):
        self.planned, self.fixed = int(planned), bool(fixed)
        self.anchor_step, self.anchor_position, self.last_step = 0, 0.0, self.planned

    def fit(self, step, steps_per_second, seconds_left):
        """Re-plans from `step` on: `seconds_left` at `steps_per_second` (a fixed-length clock
        keeps its `planned` last step)."""
        if self.fixed:
            return
        position = self.position(step)
        self.anchor_step, self.anchor_position = step, position
        self.last_step = step + max(1, int(steps_per_second * seconds_left))

    def position(self, step):
        if step >= self.last_step:
            return float(self.planned)
        slope = (self.planned - self.anchor_position) / (self.last_step - self.anchor_step)
        return self.anchor_position + slope * (step - self.anchor_step)

    def counter(self, step):
        return min(int(self.position(step)), self.planned - 1)


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


def _write_summary(out_dir, summary):
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)


def _log(t0, message):
    print(f"[{time.time() - t0:6.1f} s] {message}", flush=True)


def run(args, out_dir):
    t0 = time.time()
    from sslhsic_tf.data import arrays

    preset, batch, total_seconds, reserve, minutes, planned_steps = _settings(args)
    os.makedirs(out_dir, exist_ok=True)
    # The data first, decoded in worker processes forked before JAX starts its threads.
    archive = arrays.DEMO_ARCHIVE if args.smoke else args.archive
    workers = min(os.cpu_count() or 1, 16)
    (x_train, y_train), (x_test, y_test) = arrays.cifar10_archive_arrays(
        archive, ("train", "test"), num_workers=workers if workers > 2 else 0)
    data_seconds = time.time() - t0
    _log(t0, f"data: {len(x_train)} train + {len(x_test)} test images in {data_seconds:.1f} s "
             f"({workers if workers > 2 else 1} processes)")

    import jax
    import keras
    import numpy as np

    from benchmarks import accelerator
    from sslhsic_tf import methods, models
    from sslhsic_tf.data import device
    from sslhsic_tf.evaluation import knn
    from sslhsic_tf.utils import random as rng_lib

    device_name = f"{jax.devices()[0].platform}:{jax.devices()[0].device_kind}"
    train_images, labels_device = jax.device_put(x_train), jax.device_put(y_train)
    _log(t0, f"device {device_name}; {planned_steps} planned steps of B {batch}")

    t_build = time.time()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    keras.utils.set_random_seed(0)
    encoder_args = {"depth": 18, "width_multiplier": preset["width"], "cifar_stem": True,
                    "padding": "symmetric", "input_shape": [32, 32, 3]}
    encoder = models.resnet(**{**encoder_args, "input_shape": (32, 32, 3)})
    optimizer_config = {"base_learning_rate": 1.0, "trust_coefficient": 0.02,
                        "weight_decay": 1e-5, "warmup_fraction": args.warmup_fraction}
    method_kwargs = {**METHOD_KWARGS[args.method], **preset["heads"],
                     **(SMOKE_METHOD_KWARGS[args.method] if args.smoke else {})}
    model = methods.create(
        args.method, encoder, total_steps=planned_steps, batch_size=batch, num_classes=10,
        optimizer_config=optimizer_config, **method_kwargs)
    model.compile()
    state = ([v.value for v in model.trainable_variables],
             [v.value for v in model.non_trainable_variables],
             [v.value for v in model.optimizer.variables],
             [v.value for v in model.metrics_variables])
    build_seconds = time.time() - t_build
    _log(t0, f"model built in {build_seconds:.1f} s")
    # Every optimizer step counter (the partitioned optimizer's and its sub-optimizers'): the
    # schedules read them, so the clock writes the schedule position there before each step.
    counters = [i for i, v in enumerate(model.optimizer.variables)
                if v.path.split("/")[-1] == "iteration"]

    per_epoch = len(x_train) // batch

    def step_fn(state, all_images, all_labels, order, step, counter):
        """One SSL step on batch `step % per_epoch` of the epoch's permutation `order`, with
        every optimizer step counter set to the schedule position `counter`."""
        trainable, non_trainable, optimizer_values, metric_values = state
        optimizer_values = list(optimizer_values)
        for i in counters:
            optimizer_values[i] = jax.numpy.asarray(counter, optimizer_values[i].dtype)
        idx = jax.lax.dynamic_slice_in_dim(order, (step % per_epoch) * batch, batch)
        views = device.augment_views(all_images[idx], rng_lib.stateless_seed(12345, step), VIEWS)
        return model.train_step((trainable, non_trainable, optimizer_values, metric_values),
                                {"views": views, "label": all_labels[idx]})

    order = jax.random.permutation(jax.random.key(0), len(x_train))
    t1 = time.time()
    compiled = jax.jit(step_fn, donate_argnums=0).lower(
        state, train_images, labels_device, order, np.int32(0), np.int32(0)).compile()
    compile_seconds = time.time() - t1
    xla_flops = accelerator._xla_flops(compiled)
    _log(t0, f"SSL step compiled in {compile_seconds:.1f} s")
    enc_macs = accelerator.conv_dense_macs(encoder)
    head_macs = {name: accelerator.conv_dense_macs(getattr(model, name))
                 for name in ("projector", "predictor", "probe") if getattr(model, name, None)}
    has_target = hasattr(model, "target_encoder")  # SSL-HSIC, BYOL: + the target's forward
    flops = accelerator.step_flops("ssl_hsic" if has_target else "ssl_hsic_no_target", batch,
                                   enc_macs, projector=head_macs.get("projector", 0),
                                   predictor=head_macs.get("predictor", 0),
                                   classifier=head_macs.get("probe", 0))
    summary = {
        "device": device_name, "batch": batch, "width": preset["width"],
        "planned_steps": planned_steps, "data_seconds": data_seconds,
        "build_seconds": build_seconds, "compile_seconds": compile_seconds,
        "model_tflops_per_step": flops / 1e12,
        "xla_tflops_per_step": None if xla_flops is None else xla_flops / 1e12,
        "archive": os.path.basename(str(archive)), "smoke": bool(args.smoke),
        "optimizer": optimizer_config, "views": VIEWS, "method": args.method,
        "method_kwargs": method_kwargs,
    }
    if args.plan_only:
        summary["total_seconds"] = time.time() - t0
        _write_summary(out_dir, summary)
        print(json.dumps(summary))
        return summary

    # Training ends at the first step past the budget; the schedules are fitted to the speed.
    train_end = min(t0 + total_seconds - reserve, time.time() + 60.0 * minutes)
    clock = ScheduleClock(planned_steps, fixed=bool(args.zoo_steps or args.smoke))
    logs, step, previous_loss, diverged = {}, 0, None, False
    t_train = time.time()
    mark_step, t_steady, steady_from = 0, None, 0
    last_print = t_train
    while step < clock.last_step and (step < 1 or time.time() < train_end):
        if step % per_epoch == 0 and step:
            order = jax.random.permutation(jax.random.key(step // per_epoch), len(x_train))
        logs, state = compiled(state, train_images, labels_device, order, np.int32(step),
                               np.int32(clock.counter(step)))
        if previous_loss is not None:  # at most one step in flight: the budget checks are real
            loss_value = float(previous_loss)
            if not math.isfinite(loss_value):
                diverged = True
                _log(t0, f"loss {loss_value} at step {step - 1}: stopping")
                step += 1
                break
        previous_loss = logs["loss"]
        step += 1
        now = time.time()
        if step == WARMUP_STEPS:
            jax.block_until_ready(state)
            t_steady = time.time()
            steady_from = mark_step = step
        elif t_steady is not None and step - mark_step >= (
                preset["calibrate_steps"] if mark_step == steady_from
                else preset["recalibrate_every"]):
            rate = (step - steady_from) / (now - t_steady)
            clock.fit(step, rate, train_end - now)
            mark_step = step
            _log(t0, f"step {step}: {rate * batch:.0f} img/s; schedule fitted to end at step "
                     f"{clock.last_step} (planned {planned_steps})")
        if now - last_print > preset.get("print_seconds", 30.0):
            # The logs are running means since the last print: show them, then restart them.
            last_print = now
            shown = ", ".join(f"{k} {float(logs[k]):.4g}" for k in LOGGED if k in logs)
            _log(t0, f"step {step} (epoch {step * batch / len(x_train):.1f}, schedule "
                     f"position {clock.position(step):.0f}): {shown}")
            state = (*state[:3], [jax.numpy.zeros_like(m) for m in state[3]])
    jax.block_until_ready(state)
    train_seconds = time.time() - t_train
    if t_steady is not None and step > steady_from:
        ssl_seconds = (time.time() - t_steady) / (step - steady_from)
    else:
        ssl_seconds = train_seconds / max(step, 1)
    for variable, value in zip(model.trainable_variables, state[0]):
        variable.assign(value)
    for variable, value in zip(model.non_trainable_variables, state[1]):
        variable.assign(value)
    final_loss = float(logs.get("loss", math.nan))
    summary.update({
        "steps": step, "schedule_steps_fitted": clock.last_step,
        "final_schedule_position": clock.position(step),
        "epochs": step * batch / len(x_train), "train_seconds": train_seconds,
        "images_per_second": batch / ssl_seconds, "ssl_step_seconds": ssl_seconds,
        "mfu_vs_bf16_peak": flops / ssl_seconds / (accelerator.DEFAULT_PEAK_TFLOPS * 1e12),
        "loss": final_loss, "diverged": diverged,
    })
    files = _save_weights(encoder, out_dir)  # first the weights: the run's product
    with open(os.path.join(out_dir, "encoder.json"), "w") as f:
        json.dump(encoder_args, f)
    summary["weight_files"] = files
    _write_summary(out_dir, summary)
    _log(t0, f"trained {step} steps ({summary['epochs']:.1f} epochs) in {train_seconds:.0f} s, "
             f"{summary['images_per_second']:.0f} img/s; weights written")

    # kNN features from a float32 copy of the encoder (jitted bf16 inference under jax 0.11.2's
    # CPU backend returned NaN for most rows where the eager call did not; float32 is exact).
    keras.mixed_precision.set_global_policy("float32")
    eval_encoder = models.resnet(**{**encoder_args, "input_shape": (32, 32, 3)})
    eval_encoder.set_weights(encoder.get_weights())
    features = jax.jit(
        lambda tv, ntv, x: eval_encoder.stateless_call(tv, ntv, x, training=False)[0])
    tv = [v.value for v in eval_encoder.trainable_variables]
    ntv = [v.value for v in eval_encoder.non_trainable_variables]

    def encode(x):
        return np.concatenate([np.asarray(features(tv, ntv, x[i:i + 1000].astype("float32") / 255))
                               for i in range(0, len(x), 1000)]).astype("float32")

    (record,) = knn.knn_evaluate(encode(x_train), y_train, encode(x_test), y_test, ks=(200,),
                                 num_classes=10)
    summary.update({"knn_top1": record["top1"], "knn": record})
    _write_summary(out_dir, summary)
    _log(t0, f"kNN top-1 {100 * record['top1']:.1f}%")

    # The same encoder trained supervised (+ the target's forward), timed on device batches.
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    timings = {}
    if time.time() - t0 < total_seconds - 30.0:
        sup_model, _, _ = accelerator._build("supervised", 18, preset["width"], True, 32,
                                             batch, 10)
        sup_example = (jax.numpy.asarray(np.random.default_rng(0).random(
            (2 * batch, 32, 32, 3), dtype=np.float32)),
            jax.numpy.asarray(np.zeros(2 * batch, np.int32)))
        sup_step, _ = accelerator._jax_step("supervised", sup_model, None, sup_example)
        _, fwd_encoder, _ = accelerator._build("forward", 18, preset["width"], True, 32,
                                               batch, 10)
        fwd_step, _ = accelerator._jax_step("forward", None, fwd_encoder, sup_example[0])
        for name, fn, example in (("supervised", sup_step, sup_example),
                                  ("forward", fwd_step, sup_example[0])):
            accelerator._block(fn(0, example))
            t = time.time()
            repeats = 3 if args.smoke else 20
            for i in range(repeats):
                out = fn(i, example)
            accelerator._block(out)
            timings[name] = (time.time() - t) / repeats
        summary.update({
            "supervised_step_seconds": timings["supervised"],
            "forward_seconds": timings["forward"],
            # The compute-equivalent supervised step: + the target's forward where there is one.
            "ssl_over_supervised_plus_forward": ssl_seconds / (
                timings["supervised"] + (timings["forward"] if has_target else 0.0))})
    else:
        _log(t0, "no time left for the supervised timing: skipped")
    summary["total_seconds"] = time.time() - t0
    _write_summary(out_dir, summary)
    ratio = summary.get("ssl_over_supervised_plus_forward")
    variant = "EMA target" if has_target else "no target"
    print(f"\n{args.method} ({variant}) ResNet-18 x{preset['width']:g} CIFAR, B {batch}, bf16, "
          f"{device_name}: {step} steps ({summary['epochs']:.1f} epochs) in {train_seconds:.0f} s")
    print("| img/s | MFU (bf16 peak) | SSL / (sup + fwd) | kNN top-1 | compile s | data s | "
          "total s |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {summary['images_per_second']:.0f} | {100 * summary['mfu_vs_bf16_peak']:.1f}% | "
          f"{'-' if ratio is None else f'{ratio:.2f}'} | {100 * record['top1']:.1f} | "
          f"{compile_seconds:.0f} | {data_seconds:.0f} | {summary['total_seconds']:.0f} |")
    return summary


def export(out_dir, name, zoo, evaluation=None):
    """CPU side (TensorFlow): the saved weights -> a TF-Hub SavedModel (and a zoo entry).

    The zoo entry's figures: the run's own kNN (on the device, pillow-decoded images), plus
    those of `evaluation`, the JSON `sslhsic_tf.evaluate` wrote for the exported SavedModel.
    """
    from sslhsic_tf import export as export_lib
    from sslhsic_tf import models, serving
    from sslhsic_tf import zoo as zoo_lib

    with open(os.path.join(out_dir, "encoder.json")) as f:
        encoder_args = json.load(f)
    with open(os.path.join(out_dir, "summary.json")) as f:
        summary = json.load(f)
    encoder = models.resnet(**{**encoder_args, "input_shape": tuple(encoder_args["input_shape"])})
    encoder.set_weights(_load_weights(out_dir))
    path = os.path.join(zoo_lib.root() if zoo else os.path.join(out_dir, "export"), name)
    method = summary.get("method", "ssl_hsic")
    serving.export_hub(encoder, path, image_size=32,
                       metadata={"method": method, "gpu_run": summary["device"]})
    print(f"exported {path}")
    if not zoo:
        return path
    knn = summary["knn"]
    figures = [{"metric": "top1", "value": float(knn["top1"]),
                "dataset": f"cifar10_archive:{summary['archive']}:test (pillow decode, on the "
                           "device, at the end of the run)",
                "protocol": f"kNN, cosine, k={knn['k']}, T={knn['temperature']}, frozen encoder "
                            "(BN inference)"}]
    if evaluation:
        with open(evaluation) as f:
            evaluated = json.load(f)  # sslhsic_tf.evaluate's output: "results", "data"
        test_spec = evaluated["data"]["name"].split("test=", 1)[-1]
        figures += export_lib.evaluation_figures(
            {"evaluation": evaluated["results"], "data": {"test": test_spec}})
    zoo_lib.add_entry(
        path, name=name, method=method,
        architecture={"name": "resnet", "depth": 18, "width_multiplier": summary["width"],
                      "stem": "cifar", "padding": "symmetric"},
        training={"dataset": "cifar10_archive", "source": summary["archive"],
                  "epochs": max(1, int(round(summary["epochs"]))), "steps": summary["steps"],
                  "batch_size": summary["batch"], "views": VIEWS,
                  "optimizer": summary.get("optimizer"),
                  "method_kwargs": summary.get("method_kwargs"),
                  "device": summary["device"], "train_seconds": summary["train_seconds"],
                  "images_per_second": summary["images_per_second"],
                  "command": "KERAS_BACKEND=jax python -m benchmarks.accelerator --zoo-run OUT "
                             f"--method {method} --archive data_cache/{summary['archive']} "
                             "--total-minutes 8 --reserve-seconds 170"},
        evaluation=figures)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    e = sub.add_parser("export", help="weights -> SavedModel (CPU, TensorFlow)")
    e.add_argument("out_dir")
    e.add_argument("--name", required=True)
    e.add_argument("--zoo", action="store_true")
    e.add_argument("--evaluation", default=None,
                   help="JSON from `python -m sslhsic_tf.evaluate --encoder=EXPORT --output=...`: "
                        "its figures go into the zoo entry too")
    args = parser.parse_args(argv)
    export(args.out_dir, args.name, args.zoo, args.evaluation)


if __name__ == "__main__":
    main()
