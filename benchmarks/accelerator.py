"""Accelerator throughput of the SSL-HSIC training step: images/s and model-FLOP utilisation (MFU).

Primary backend: JAX (`KERAS_BACKEND=jax`); it also runs under TensorFlow. Two architectures,
`mixed_bfloat16` by default, B images per SSL step (2 views each):

- resnet50_224: ResNet-50 (ImageNet stem) at 224 px, B = 256, probe over 1000 classes;
- resnet18_cifar: ResNet-18 (CIFAR stem) at 32 px, B = 1024, probe over 10 classes.

For each, three step functions on device-resident batches (a few distinct batches cycled, so the
input pipeline and host-to-device copies are not measured), each in a fresh process:

- ssl_hsic: `methods.create("ssl_hsic", encoder, total_steps=1000, batch_size=B, num_classes=C)`
  with the paper's settings (projector 4096-256, predictor 4096-256, IMQ kernel, 512 random
  features, learned bandwidth on 1024 resampled points, LARS, EMA target, online probe): online
  encoder forward + backward on 2B views, target encoder forward on 2B views, heads, objective,
  bandwidth, probe, optimizer, EMA; `model.train_step` jitted as `fit()` does (JAX:
  `jax.jit(train_step, donate_argnums=0)`; TensorFlow: `tf.function(train_step)`, XLA on GPUs);
- supervised: encoder + Dense(C), SGD(momentum 0.9) + cross-entropy, Keras' own `train_step`,
  on 2B images: the online encoder's forward + backward;
- forward: `encoder(x, training=True)` on 2B images, no gradient: the target encoder's forward.

The compute-equivalent supervised step is supervised + forward (same encoder passes as the SSL
step). Targets (on an H100/H200-class GPU): MFU >= 40% for ResNet-50, and
ssl_hsic / (supervised + forward) <= 1.3.

Model FLOPs are counted analytically from the layer shapes: every Conv2D (H_out W_out kh kw
C_in C_out multiply-adds per image) and Dense (its kernel size per example), forward = 2 x MACs,
backward = 2 x forward; BatchNorm, activations, pooling, the objective and the optimizer are
not counted (well under 1% of ResNet FLOPs). Per step, with E, P, Q, K the forward MACs per
example of the encoder, projector, predictor and classifier/probe:
  ssl_hsic:   2 [3 * 2B (E + P + Q) + 2B (E + P) + 3 B K]   (BYOL alike)
  ssl_hsic_no_target: 2 [3 * 2B (E + P) + 3 B K]
  supervised: 2 [3 * 2B (E + K)],   forward: 2 [2B E]
MFU = model FLOPs per step / step time / peak (`--peak_tflops`, default 989: the H100/H200 SXM
dense bf16 datasheet figure; an 8192^3 bf16 matmul measured about 790 TFLOP/s on this
workplace's H200, `--ceiling_tflops`, reported as a second column). Under JAX the table also
gives XLA's own FLOP count of the compiled step (cost analysis; a cross-check of the analytic
count, which may leave out library calls such as cuDNN convolutions).

    KERAS_BACKEND=jax python -m benchmarks.accelerator            # the GPU run
    KERAS_BACKEND=jax python -m benchmarks.accelerator --quick    # tiny settings (CPU check)
    KERAS_BACKEND=jax python -m benchmarks.accelerator --run OUT   # MFU of a device-loop run
    python -m benchmarks.accelerator --archs resnet18_cifar --batch 512 --steps 20
"""

import argparse
import json
import math
import os
import statistics
import sys
import time

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # noqa: E402

MFU_TARGET = 0.40
RATIO_TARGET = 1.3
TOTAL_STEPS = 1000
CONFIGS = ("ssl_hsic", "supervised", "forward")
# name -> (depth, width, cifar_stem, image size, batch B, classes); --quick: (width, size, B)
ARCHS = {
    "resnet50_224": (50, 1.0, False, 224, 256, 1000),
    "resnet18_cifar": (18, 1.0, True, 32, 1024, 10),
}
QUICK = {"resnet50_224": (0.125, 64, 4), "resnet18_cifar": (0.125, 32, 8)}
DEFAULT_PEAK_TFLOPS = 989.0
DEFAULT_CEILING_TFLOPS = 790.0


def _parse(argv):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--archs", default=",".join(ARCHS),
                   help=f"comma-separated architectures among {', '.join(ARCHS)}")
    p.add_argument("--batch", type=int, default=0, help="B (0: the architecture's default)")
    p.add_argument("--width", type=float, default=0.0, help="width multiplier (0: default)")
    p.add_argument("--image-size", type=int, default=0, help="image side (0: default)")
    p.add_argument("--policy", default="mixed_bfloat16",
                   choices=("mixed_bfloat16", "mixed_float16", "float32"))
    p.add_argument("--steps", type=int, default=10, help="steps per timed repeat")
    p.add_argument("--repeats", type=int, default=5, help="timed repeats (median reported)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (compilation)")
    p.add_argument("--cached-batches", type=int, default=2, help="distinct device batches cycled")
    p.add_argument("--tf-jit", choices=("auto", "on", "off"), default="auto",
                   help="TensorFlow only: XLA for every step (auto: on where a GPU is present)")
    p.add_argument("--peak_tflops", "--peak-tflops", dest="peak_tflops", type=float,
                   default=DEFAULT_PEAK_TFLOPS, help="the device's peak TFLOP/s for MFU")
    p.add_argument("--ceiling_tflops", "--ceiling-tflops", dest="ceiling_tflops", type=float,
                   default=DEFAULT_CEILING_TFLOPS,
                   help="a measured matmul ceiling (TFLOP/s) for the second utilisation column")
    p.add_argument("--quick", action="store_true",
                   help="tiny settings (width 0.125, small images and batches, 2 x 2 steps)")
    p.add_argument("--timeout", type=int, default=3600, help="seconds per worker process")
    p.add_argument("--json", action="store_true", help="also print the results as one JSON line")
    p.add_argument("--worker", choices=CONFIGS, help=argparse.SUPPRESS)
    p.add_argument("--run", metavar="WORKDIR", default="",
                   help="instead: the model-FLOP utilisation of a finished run of the library "
                        "with its data on the device (`sslhsic-pretrain --config=cifar10_ssl_hsic_gpu"
                        "`): its measured img/s against the analytic FLOPs of its step")
    args = p.parse_args(argv)
    if args.run:
        return args
    args.archs = [a.strip() for a in args.archs.split(",") if a.strip()]
    unknown = [a for a in args.archs if a not in ARCHS]
    if unknown or not args.archs:
        p.error(f"--archs must name some of {', '.join(ARCHS)}; got {unknown or 'nothing'}")
    if args.quick:
        args.steps, args.repeats, args.warmup = 2, 2, 1
    for name in ("steps", "repeats", "warmup", "cached_batches"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be a positive integer; got "
                    f"{getattr(args, name)}")
    for name in ("batch", "image_size"):
        if getattr(args, name) < 0:
            p.error(f"--{name.replace('_', '-')} must be >= 0; got {getattr(args, name)}")
    if args.width < 0:
        p.error(f"--width must be >= 0; got {args.width}")
    if not (args.peak_tflops > 0 and args.ceiling_tflops > 0):
        p.error("--peak_tflops and --ceiling_tflops must be > 0")
    return args


def settings(arch, args):
    """(depth, width, cifar_stem, image size, B, classes) of `arch` after flags and --quick."""
    depth, width, cifar, size, batch, classes = ARCHS[arch]
    if args.quick:
        width, size, batch = QUICK[arch]
    width = args.width or width
    size = args.image_size or size
    batch = args.batch or batch
    return depth, width, cifar, size, batch, classes


# ---------------------------------------------------------------------------- FLOP counting


def conv_dense_macs(model):
    """Multiply-adds per example of every Conv2D and Dense inside `model` (recursively).

    Conv2D: H_out * W_out * (kernel size kh * kw * C_in/groups * C_out), from its symbolic output
    shape, so the model must have a fixed input size (e.g. `resnet(..., input_shape=(S, S, 3))`).
    Dense: the kernel size per example of a `[B, D]` input (the heads' case).
    """
    import keras

    total = 0
    for layer in model._flatten_layers(include_self=True, recursive=True):
        if isinstance(layer, keras.layers.Conv2D):
            out = layer.output.shape
            if any(d is None for d in out[1:3]):
                raise ValueError(
                    f"layer {layer.name} has no static output size {tuple(out)}: build the model "
                    "with a fixed input_shape to count its FLOPs")
            total += int(out[1]) * int(out[2]) * math.prod(layer.kernel.shape)
        elif isinstance(layer, keras.layers.Dense):
            total += math.prod(layer.kernel.shape)
    return int(total)


def step_flops(config, batch, encoder_macs, *, projector=0, predictor=0, classifier=0):
    """Model FLOPs of one step (forward = 2 x MACs, backward = 2 x forward; see the docstring)."""
    b = int(batch)
    if config == "ssl_hsic":
        return 2 * (3 * 2 * b * (encoder_macs + projector + predictor)
                    + 2 * b * (encoder_macs + projector) + 3 * b * classifier)
    if config == "ssl_hsic_no_target":  # online passes only (no predictor, no target)
        return 2 * (3 * 2 * b * (encoder_macs + projector) + 3 * b * classifier)
    if config == "supervised":
        return 2 * 3 * 2 * b * (encoder_macs + classifier)
    if config == "forward":
        return 2 * 2 * b * encoder_macs
    raise ValueError(f"config must be one of {CONFIGS + ('ssl_hsic_no_target',)}; got {config!r}")


# ---------------------------------------------------------------------------- worker side


def _backend():
    import keras

    return keras.backend.backend()


def _device_name():
    if _backend() == "jax":
        import jax

        d = jax.devices()[0]
        return f"{d.platform}:{d.device_kind} x{len(jax.devices())}"
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "cpu"
    details = tf.config.experimental.get_device_details(gpus[0])
    return f"gpu:{details.get('device_name', 'GPU')} x{len(gpus)}"


def _has_accelerator():
    if _backend() == "jax":
        import jax

        return jax.default_backend() != "cpu"
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def _batches(config, args, size, batch, classes):
    """Host batches (NumPy) of the config: SSL {"views", "label"}, supervised (x, y), forward x."""
    import numpy as np

    rng = np.random.default_rng(0)
    out = []
    for _ in range(args.cached_batches):
        def images(n):
            return rng.random((n, size, size, 3), dtype=np.float32)

        labels = rng.integers(0, classes, size=(2 * batch,)).astype(np.int32)
        if config == "ssl_hsic":
            out.append({"views": (images(batch), images(batch)), "label": labels[:batch]})
        elif config == "supervised":
            out.append((images(2 * batch), labels))
        else:
            out.append(images(2 * batch))
    return out


def _to_device(batches):
    if _backend() == "jax":
        import jax

        return [jax.device_put(b) for b in batches]
    import tensorflow as tf

    return [tf.nest.map_structure(tf.constant, b) for b in batches]


def _build(config, depth, width, cifar, size, batch, classes):
    """The model of `config` (compiled) and its analytic FLOPs per step."""
    import keras

    from sslhsic_tf import methods, models

    encoder = models.resnet(depth, width, cifar, input_shape=(size, size, 3))
    enc_macs = conv_dense_macs(encoder)
    if config == "ssl_hsic":
        model = methods.create("ssl_hsic", encoder, total_steps=TOTAL_STEPS, batch_size=batch,
                               num_classes=classes)
        model.compile()
        flops = step_flops(config, batch, enc_macs, projector=conv_dense_macs(model.projector),
                           predictor=conv_dense_macs(model.predictor),
                           classifier=conv_dense_macs(model.probe))
        return model, encoder, flops
    if config == "supervised":
        inputs = keras.Input((size, size, 3), name="images")
        head = keras.layers.Dense(classes, dtype="float32", name="classifier")
        model = keras.Model(inputs, head(encoder(inputs)), name="supervised")
        model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.optimizer.build(model.trainable_variables)  # as fit() would before its first step
        return model, encoder, step_flops(config, batch, enc_macs,
                                          classifier=conv_dense_macs(head))
    return None, encoder, step_flops(config, batch, enc_macs)


def _jax_step(config, model, encoder, example):
    """(step(i, batch) -> output to block on, XLA FLOPs of the compiled step or None)."""
    import jax

    if config == "forward":
        trainable = [v.value for v in encoder.trainable_variables]
        frozen = [v.value for v in encoder.non_trainable_variables]

        def forward(tv, ntv, x):
            return encoder.stateless_call(tv, ntv, x, training=True)[0]

        compiled = jax.jit(forward).lower(trainable, frozen, example).compile()
        return (lambda i, x: compiled(trainable, frozen, x)), _xla_flops(compiled)
    state = (  # what Keras' JAX fit() passes to train_step
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
        [v.value for v in model.optimizer.variables],
        [v.value for v in model.metrics_variables],
    )
    compiled = jax.jit(model.train_step, donate_argnums=0).lower(state, example).compile()
    holder = {"state": state}

    def step(i, data):
        logs, holder["state"] = compiled(holder["state"], data)
        return logs, holder["state"]

    return step, _xla_flops(compiled)


def _xla_flops(compiled):
    try:
        cost = compiled.cost_analysis()
    except Exception:  # not every platform implements it
        return None
    if isinstance(cost, (list, tuple)):
        cost = cost[0] if cost else None
    flops = (cost or {}).get("flops")
    return None if flops is None or flops <= 0 else float(flops)


def _tf_step(config, model, encoder, args):
    import tensorflow as tf

    jit = {"on": True, "off": False}.get(args.tf_jit, _has_accelerator())
    if config == "forward":
        fn = tf.function(lambda x: encoder(x, training=True), jit_compile=jit)
    else:
        fn = tf.function(model.train_step, jit_compile=jit)
    return (lambda i, data: fn(data)), None


def _block(out):
    """Waits for the device work that produced `out`."""
    if _backend() == "jax":
        import jax

        jax.block_until_ready(out)
    else:
        import tensorflow as tf

        for t in tf.nest.flatten(out):
            t.numpy()


def worker(args, arch):
    """Times `args.worker` for `arch` in this process; prints one JSON object."""
    import keras

    depth, width, cifar, size, batch, classes = settings(arch, args)
    keras.mixed_precision.set_global_policy(args.policy)
    keras.utils.set_random_seed(0)
    start = time.perf_counter()
    model, encoder, flops = _build(args.worker, depth, width, cifar, size, batch, classes)
    data = _to_device(_batches(args.worker, args, size, batch, classes))
    if _backend() == "jax":
        step, xla_flops = _jax_step(args.worker, model, encoder, data[0])
    else:
        step, xla_flops = _tf_step(args.worker, model, encoder, args)
    for i in range(args.warmup):
        _block(step(i, data[i % len(data)]))
    setup_s = time.perf_counter() - start
    times = []
    n = args.warmup
    for _ in range(args.repeats):
        t = time.perf_counter()
        for _ in range(args.steps):
            out = step(n, data[n % len(data)])
            n += 1
        _block(out)
        times.append((time.perf_counter() - t) / args.steps)
    images = batch if args.worker == "ssl_hsic" else 2 * batch
    print(json.dumps({
        "arch": arch, "config": args.worker, "backend": _backend(), "device": _device_name(),
        "accelerator": _has_accelerator(), "policy": args.policy, "depth": depth,
        "width": width, "image_size": size, "batch": batch, "images_per_step": images,
        "step_s": statistics.median(times), "min_step_s": min(times), "flops": flops,
        "xla_flops": xla_flops, "setup_s": setup_s,
    }))


# ---------------------------------------------------------------------------- main side


def _worker_argv(args, arch, config):
    argv = [os.path.abspath(__file__), f"--worker={config}", f"--archs={arch}",
            f"--batch={args.batch}", f"--width={args.width}", f"--image-size={args.image_size}",
            f"--policy={args.policy}", f"--steps={args.steps}", f"--repeats={args.repeats}",
            f"--warmup={args.warmup}", f"--cached-batches={args.cached_batches}",
            f"--tf-jit={args.tf_jit}"]
    return argv + (["--quick"] if args.quick else [])


def _fmt_pct(x):
    return "-" if x is None else f"{100 * x:.3g}%"


def summarise(results, peak_tflops, ceiling_tflops, judge=True):
    """Table rows and summary lines from {arch: {config: worker JSON}}; `judge`: compare with
    the GPU targets (False on a CPU, where they mean nothing)."""
    rows, lines, values = [], [], {}
    for arch, by_config in results.items():
        ok = {c: r for c, r in by_config.items() if "error" not in r}
        for config in CONFIGS:
            r = by_config.get(config)
            if r is None:
                continue
            if "error" in r:
                rows.append([arch, config, "error", "-", "-", "-", "-", "-", r["error"][:90]])
                continue
            achieved = r["flops"] / r["step_s"]
            rows.append([
                arch, config, f"{1000 * r['step_s']:.2f}",
                f"{r['images_per_step'] / r['step_s']:.1f}", f"{r['flops'] / 1e9:.1f}",
                "-" if r.get("xla_flops") is None else f"{r['xla_flops'] / 1e9:.1f}",
                f"{achieved / 1e12:.2f}", _fmt_pct(achieved / (peak_tflops * 1e12)),
                _fmt_pct(achieved / (ceiling_tflops * 1e12)),
            ])
        if {"supervised", "forward"} <= set(ok):
            sup, fwd = ok["supervised"], ok["forward"]
            t = sup["step_s"] + fwd["step_s"]
            flops = sup["flops"] + fwd["flops"]
            mfu = flops / t / (peak_tflops * 1e12)
            rows.append([arch, "equivalent = supervised + forward", f"{1000 * t:.2f}",
                         f"{sup['batch'] / t:.1f}", f"{flops / 1e9:.1f}", "-",
                         f"{flops / t / 1e12:.2f}", _fmt_pct(mfu),
                         _fmt_pct(flops / t / (ceiling_tflops * 1e12))])
            values[f"{arch}/equivalent_mfu"] = mfu
            if "ssl_hsic" in ok:
                ssl = ok["ssl_hsic"]
                ratio = ssl["step_s"] / t
                ssl_mfu = ssl["flops"] / ssl["step_s"] / (peak_tflops * 1e12)
                values[f"{arch}/ratio"], values[f"{arch}/ssl_mfu"] = ratio, ssl_mfu
                verdict = ("met" if ratio <= RATIO_TARGET else "NOT met") if judge else "not judged"
                lines.append(f"{arch}: ssl_hsic / (supervised + forward) = "
                             f"{1000 * ssl['step_s']:.2f} / {1000 * t:.2f} ms = {ratio:.2f} "
                             f"[target <= {RATIO_TARGET}: {verdict}]")
                if arch.startswith("resnet50"):
                    verdict = (("met" if ssl_mfu >= MFU_TARGET else "NOT met") if judge
                               else "not judged")
                    lines.append(f"{arch}: ssl_hsic MFU {100 * ssl_mfu:.3g}% "
                                 f"[target >= {100 * MFU_TARGET:.0f}%: {verdict}]")
    return rows, lines, values


def run_mfu(workdir, peak_tflops, ceiling_tflops):
    """Prints the model-FLOP utilisation of a device-loop run from its results.json: the model
    is rebuilt from the run's config.json (at its image size) only to count its FLOPs."""
    from sslhsic_tf import methods, models

    with open(os.path.join(workdir, "results.json")) as f:
        results = json.load(f)
    with open(os.path.join(workdir, "config.json")) as f:
        stored = json.load(f)["config"]
    size = stored["data"]["image_size"]

    encoder = models.resnet(**{**stored["model"], "input_shape": (size, size, 3)})
    model = methods.create(stored["method"], encoder, total_steps=10,
                           batch_size=stored["batch_size"], num_classes=10,
                           **stored["method_kwargs"])
    macs = {name: conv_dense_macs(getattr(model, name))
            for name in ("projector", "predictor", "probe") if getattr(model, name, None)}
    kind = "ssl_hsic" if hasattr(model, "target_encoder") else "ssl_hsic_no_target"
    batch = results["batch_size"]
    flops = step_flops(kind, batch, conv_dense_macs(encoder), projector=macs.get("projector", 0),
                       predictor=macs.get("predictor", 0), classifier=macs.get("probe", 0))
    per_second = results["images_per_second"] / batch * flops
    print(f"{results['method']} run {workdir} on {results.get('device', '?')}: "
          f"{results['images_per_second']:.0f} img/s, {flops / 1e9:.1f} model GFLOP/step, "
          f"MFU {100 * per_second / (peak_tflops * 1e12):.1f}% of {peak_tflops:g} TFLOP/s "
          f"({100 * per_second / (ceiling_tflops * 1e12):.1f}% of the {ceiling_tflops:g} ceiling)")
    return 0


def main(argv=None):
    args = _parse(argv)
    if args.run:
        return run_mfu(args.run, args.peak_tflops, args.ceiling_tflops)
    if args.worker:
        return worker(args, args.archs[0])
    results = {}
    for arch in args.archs:
        results[arch] = {}
        for config in CONFIGS:
            r = common.run_worker(_worker_argv(args, arch, config), timeout=args.timeout)
            results[arch][config] = r
            print(f"  done {arch} {config}", file=sys.stderr, flush=True)
    first = next((r for by in results.values() for r in by.values() if "error" not in r), {})
    print(f"Accelerator benchmark: backend {first.get('backend', '?')}, device "
          f"{first.get('device', '?')}, policy {args.policy}, median of {args.repeats} x "
          f"{args.steps} steps after {args.warmup} warm-up steps, device-resident batches")
    for arch in args.archs:
        depth, width, cifar, size, batch, classes = settings(arch, args)
        print(f"  {arch}: ResNet-{depth} x{width:g} {'CIFAR' if cifar else 'ImageNet'} stem, "
              f"{size} px, B = {batch} (SSL: B images x 2 views; supervised/forward: 2B = "
              f"{2 * batch} images), {classes} classes")
    on_accelerator = bool(first.get("accelerator", False))
    rows, lines, values = summarise(results, args.peak_tflops, args.ceiling_tflops,
                                    judge=on_accelerator)
    print(common.format_table(
        ["arch", "config", "ms/step", "images/s", "model GFLOP/step", "XLA GFLOP/step",
         "TFLOP/s", f"MFU (peak {args.peak_tflops:g})", f"of {args.ceiling_tflops:g} ceiling"],
        rows))
    print("images/s: distinct images per second (an SSL image is 2 views; the equivalent row "
          "counts SSL images, B per step); model FLOPs: analytic conv/dense count, forward = 2 x "
          "MACs, backward = 2 x forward; MFU: model FLOP/s over --peak_tflops")
    print("\n".join(lines))
    if not on_accelerator:
        print("NOTE: no GPU/TPU here: MFU against an accelerator's peak means nothing on a CPU and "
              f"the targets (MFU >= {100 * MFU_TARGET:.0f}% for ResNet-50, ratio <= "
              f"{RATIO_TARGET}) need a GPU run; this run only shows that the script works.")
    if args.json:
        print(json.dumps({"args": vars(args), "results": results, "values": values}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
