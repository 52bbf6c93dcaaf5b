"""SSL-HSIC training-step cost against the encoder's own compute (TensorFlow backend, `fit()`).

Configurations, each in a fresh process (same encoder architecture everywhere:
`models.resnet(depth, width, cifar_stem=True)`, 32 px random images in [0, 1], batch B):

- supervised: encoder + Dense(10), SGD(momentum 0.9) + sparse cross-entropy, `fit()` on 2B
  images per step: the encoder's forward + backward on as many images as the SSL step's online
  encoder sees (2 views x B).
- forward: the encoder alone, `encoder(x, training=True)` (BatchNorm in training mode, as the
  target network runs) on 2B images, no gradient, in a `tf.function` that pulls each batch from
  a `tf.data` iterator as Keras' train function does: the target network's compute.
- ssl_hsic: `methods.create("ssl_hsic", encoder, total_steps=1000, batch_size=B,
  num_classes=10)`, `fit()` on `{"views": (v1, v2), "label": y}` (B images, 2 views): online
  encoder forward + backward on 2B views, target encoder forward on 2B views, projector /
  predictor / target projector, RFF SSL-HSIC objective, learned bandwidth, online probe, LARS,
  EMA.
- ssl_hsic_no_target (extra row): the same without target network and predictor.

Inputs are a few cached in-memory batches repeated by `tf.data` (the pipeline is not measured).
Each process runs a warm-up `fit()` (tracing and first steps), then a second `fit()` of
`--epochs` epochs of `--steps` steps; the time per step is the median over epochs of the epoch
wall time / steps (a callback reads the clock at epoch begin and end, after the epoch's logs are
materialised). CPU is the process CPU time per step (all threads): on a shared machine it moves
much less than wall time. Memory is the process peak RSS during the timed epochs (high-water
mark reset after warm-up), and the peak including the warm-up (graph tracing and first steps).
No XLA on either side by default (Keras' "auto" on a CPU-only machine); `--jit-compile` turns it
on for all configurations alike. `steps_per_execution` is 1 everywhere. `--threads 1` pins
TensorFlow to one intra-op and one inter-op thread: slower, but the compute ratios then hardly
depend on how many cores other processes leave free (use it on a shared machine).

Ratios, from wall time and from CPU time (target: (b) <= 1.3, i.e. the SSL machinery -- heads, gather, objective, bandwidth,
probe, LARS, EMA -- adds at most 30% over the encoder's own forward + backward + target forward):
  (a) naive:              ssl_hsic step / supervised step on 2B images
  (b) compute-equivalent: ssl_hsic step / (supervised step on 2B images + forward on 2B images)

With `--breakdown always` (or `auto`, the default, when (b) > 1.3 by wall or CPU time) a further
process times the pieces of the SSL step other than the encoders, each in its own small
`tf.function` on random features (heads, objective, bandwidth, probe, optimizer, EMA; an SGD
apply on the encoder's variables for comparison).

CPU configurations, `--cpu-configs`: SSL-HSIC with target (B images x 2 views) and
the encoder's own forward + backward (the supervised row, 2B images) under each configuration
below, each in a fresh process, side by side in img/s with the speed-up over the baseline, the
default before the CPU precision work (float32 with Keras' composite BatchNorm ops, reproduced with
`--batchnorm keras`): mixed_bfloat16 with Keras' BatchNorm, float32 and mixed_bfloat16 with the
fused BatchNorm kernel (`models.BatchNorm` since 2026-11-28; objectives stay float32 inside), XLA,
bf16 + XLA, one inter-op thread, and the real input pipeline (the embedded demo subset, two
augmented views per image, prefetched) instead of cached batches. With `--torch-python PY` (a virtual
environment with PyTorch, never a dependency of the package) the same encoder (ResNet-18 written
in `torch_parity.py`, same width, batch, image size) is timed in PyTorch, float32 and with
bfloat16 autocast, and the ratio ours / PyTorch is printed.

    python -m benchmarks.train_step            # B = 256 (about 10 min on 2 idle cores)
    python -m benchmarks.train_step --cpu-configs --width 0.25 --torch-python /work/torchenv/bin/python
    python -m benchmarks.train_step --threads 1 --breakdown always   # shared machine
    python -m benchmarks.train_step --quick    # B = 64, fewer steps
    python -m benchmarks.train_step --batch 128 --steps 3 --epochs 2 --depth 18 --width 0.5
"""

import argparse
import json
import os
import statistics
import sys
import time

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # noqa: E402

RATIO_TARGET = 1.3
NUM_CLASSES = 10
TOTAL_STEPS = 1000
CONFIGS = ("supervised", "forward", "ssl_hsic", "ssl_hsic_no_target")


def _parse(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, help="B: SSL images per step, 2 views each (256; --quick 64)")
    p.add_argument("--steps", type=int, default=2, help="steps per timed epoch")
    p.add_argument("--epochs", type=int, help="timed epochs, median reported (3; --quick 2)")
    p.add_argument("--warmup", type=int, default=1, help="steps of the warm-up fit() (tracing)")
    p.add_argument("--depth", type=int, default=18, help="ResNet depth")
    p.add_argument("--width", type=float, default=1.0, help="ResNet width multiplier")
    p.add_argument("--image-size", type=int, default=32, help="image side in pixels")
    p.add_argument("--cached-batches", type=int, default=2, help="distinct in-memory batches cycled")
    p.add_argument("--jit-compile", action="store_true", help="XLA for every configuration")
    p.add_argument("--threads", type=int, default=0,
                   help="TF intra- and inter-op threads (0: TF's default, all cores); 1 gives "
                        "contention-robust compute ratios on a shared machine")
    p.add_argument("--no-extra", action="store_true", help="skip the ssl_hsic_no_target row")
    p.add_argument("--breakdown", choices=("auto", "always", "never"), default="auto",
                   help="time the SSL step's pieces besides the encoders (auto: when (b) > 1.3)")
    p.add_argument("--quick", action="store_true", help="defaults B = 64 and 2 epochs of 2 steps")
    p.add_argument("--timeout", type=int, default=1800, help="seconds per configuration process")
    p.add_argument("--json", action="store_true", help="also print the results as one JSON line")
    p.add_argument("--mixed-precision", default="", choices=("", "float32", "mixed_bfloat16"),
                   help="Keras dtype policy of every configuration ('' : Keras' default)")
    p.add_argument("--inter-threads", type=int, default=0,
                   help="TF inter-op threads (0: the same as --threads)")
    p.add_argument("--batchnorm", default="fused", choices=("fused", "keras"),
                   help="BatchNorm kernel on one replica: the fused one (the default since issue "
                        "11) or Keras' composite ops (the default before; reproduced here only)")
    p.add_argument("--input", default="cached", choices=("cached", "demo"),
                   help="SSL batches: cached random arrays, or the demo subset's pipeline")
    p.add_argument("--cpu-configs", action="store_true",
                   help="compare CPU configurations side by side (see above)")
    p.add_argument("--torch-python", default="",
                   help="with --cpu-configs: a Python with PyTorch for the reference row")
    p.add_argument("--worker", choices=CONFIGS + ("breakdown", "torch"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.batch is None:
        args.batch = 64 if args.quick else 256
    if args.epochs is None:
        args.epochs = 2 if args.quick else 3
    for name in ("batch", "steps", "epochs", "warmup", "depth", "image_size", "cached_batches"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be a positive integer; got {getattr(args, name)}")
    if args.threads < 0 or args.inter_threads < 0:
        p.error(f"--threads and --inter-threads must be >= 0; got {args.threads}, "
                f"{args.inter_threads}")
    if not args.width > 0:
        p.error(f"--width must be > 0; got {args.width}")
    return args


# ---------------------------------------------------------------------------- worker side


def _images_per_step(config, batch):
    """(distinct images, encoder passes with gradient) per step."""
    return {"supervised": (2 * batch, 2 * batch), "forward": (2 * batch, 0),
            "ssl_hsic": (batch, 2 * batch), "ssl_hsic_no_target": (batch, 2 * batch)}[config]


def _dataset(config, args):
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    k, b, s = args.cached_batches, args.batch, args.image_size

    def images(n):
        return rng.random((k, n, s, s, 3), dtype=np.float32)

    def labels(n):
        return rng.integers(0, NUM_CLASSES, size=(k, n)).astype(np.int32)

    if args.input == "demo" and config.startswith("ssl_hsic"):
        from sslhsic_tf import data

        train = data.demo("train")
        return data.pretrain_dataset(train, "cifar10", b, seed=0)  # repeats, prefetches
    if config == "supervised":
        elements = (images(2 * b), labels(2 * b))
    elif config == "forward":
        elements = images(2 * b)
    else:
        elements = {"views": (images(b), images(b)), "label": labels(b)}
    return tf.data.Dataset.from_tensor_slices(elements).repeat().prefetch(2)


def _encoder(args):
    import keras

    from sslhsic_tf import models

    if args.mixed_precision:
        keras.mixed_precision.set_global_policy(args.mixed_precision)
    if args.batchnorm == "keras":  # the pre-issue-11 path, for the side-by-side baseline only
        models.BatchNorm._can_fuse = lambda self, inputs, mask, training: False

    width = int(args.width) if float(args.width).is_integer() else args.width
    return models.resnet(args.depth, width, cifar_stem=True)


def _fit_model(config, args):
    import keras

    encoder = _encoder(args)
    if config == "supervised":
        inputs = keras.Input((args.image_size, args.image_size, 3), name="images")
        logits = keras.layers.Dense(NUM_CLASSES, name="classifier")(encoder(inputs))
        model = keras.Model(inputs, logits, name="supervised")
        model.compile(
            optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            jit_compile=args.jit_compile,
        )
        return model
    from sslhsic_tf import methods

    model = methods.create(config, encoder, total_steps=TOTAL_STEPS, batch_size=args.batch,
                           num_classes=NUM_CLASSES)
    model.compile(jit_compile=args.jit_compile)
    return model


def _epoch_timer():
    import keras

    class EpochTimer(keras.callbacks.Callback):
        """Wall and process CPU seconds of each epoch (logs materialised before the clock stops)."""

        def __init__(self):
            super().__init__()
            self.wall, self.cpu = [], []

        def on_epoch_begin(self, epoch, logs=None):
            self._t, self._c = time.perf_counter(), time.process_time()

        def on_epoch_end(self, epoch, logs=None):
            for value in (logs or {}).values():
                float(value)  # waits for the epoch's last step
            self.wall.append(time.perf_counter() - self._t)
            self.cpu.append(time.process_time() - self._c)

    return EpochTimer()


def _run_fit(config, args):
    model = _fit_model(config, args)
    ds = _dataset(config, args)
    baseline = common.rss_mib()
    start = time.perf_counter()
    model.fit(ds, epochs=1, steps_per_epoch=args.warmup, verbose=0)
    warmup_s = time.perf_counter() - start
    timer = _epoch_timer()
    peak_with_warmup = common.peak_rss_mib()
    common.reset_peak_rss()
    model.fit(ds, epochs=args.epochs, steps_per_epoch=args.steps, verbose=0, callbacks=[timer])
    return timer.wall, timer.cpu, baseline, peak_with_warmup, warmup_s


def _run_forward(args):
    import tensorflow as tf

    encoder = _encoder(args)
    ds = _dataset("forward", args)

    @tf.function(jit_compile=args.jit_compile, reduce_retracing=True)
    def compute(images):
        return tf.reduce_mean(encoder(images, training=True))

    @tf.function(reduce_retracing=True)
    def forward(iterator):  # the batch is pulled outside XLA, as Keras' train function does
        return compute(next(iterator))

    iterator = iter(ds)
    baseline = common.rss_mib()
    start = time.perf_counter()
    for _ in range(args.warmup):
        float(forward(iterator))
    warmup_s = time.perf_counter() - start
    peak_with_warmup = common.peak_rss_mib()
    common.reset_peak_rss()
    wall, cpu = [], []
    for _ in range(args.epochs):
        t, c = time.perf_counter(), time.process_time()
        for _ in range(args.steps):
            out = forward(iterator)
        float(out)
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return wall, cpu, baseline, peak_with_warmup, warmup_s


def worker_config(args):
    """One configuration in this process; prints a JSON object."""
    if args.worker == "forward":
        wall, cpu, baseline, peak_warm, warmup_s = _run_forward(args)
    else:
        wall, cpu, baseline, peak_warm, warmup_s = _run_fit(args.worker, args)
    per_step = [w / args.steps for w in wall]
    images, passes = _images_per_step(args.worker, args.batch)
    print(json.dumps({
        "config": args.worker,
        "step_s": statistics.median(per_step),
        "min_step_s": min(per_step),
        "cpu_step_s": statistics.median(c / args.steps for c in cpu),
        "images_per_step": images,
        "grad_passes_per_step": passes,
        "peak_mib": common.peak_rss_mib(),
        "peak_with_warmup_mib": peak_warm,
        "baseline_mib": baseline,
        "warmup_s": warmup_s,
    }))


def worker_breakdown(args):
    """Times the SSL step's pieces other than the encoders on random features; prints JSON."""
    import keras
    import numpy as np
    import tensorflow as tf

    from sslhsic_tf import methods, objectives
    from sslhsic_tf.utils import random as rng

    model = methods.create("ssl_hsic", _encoder(args), total_steps=TOTAL_STEPS,
                           batch_size=args.batch, num_classes=NUM_CLASSES)
    model.compile(jit_compile=args.jit_compile)
    b, f, d = args.batch, model.feature_dim, model.projection_dim
    gen = np.random.default_rng(1)
    feats = [tf.constant(gen.normal(size=(b, f)).astype(np.float32)) for _ in range(2)]
    views = tf.constant(gen.normal(size=(4, b, d)).astype(np.float32))
    labels = tf.constant(gen.integers(0, NUM_CLASSES, size=(b,)).astype(np.int32))
    seed = tf.constant([0, 1], tf.int32)
    head_vars = model.projector.trainable_variables + model.predictor.trainable_variables
    jit = args.jit_compile

    @tf.function(jit_compile=jit)
    def heads_online(h1, h2):
        with tf.GradientTape() as tape:
            out = model.head_outputs(None, [h1, h2], {"target": views[2:]}, True)
            loss = tf.reduce_sum(out["online"])
        return tape.gradient(loss, head_vars)

    @tf.function(jit_compile=jit)
    def heads_target(h1, h2):
        return tf.stack([model.target_projector(h, training=True) for h in (h1, h2)])

    @tf.function(jit_compile=jit)
    def objective(v, s):
        with tf.GradientTape() as tape:
            tape.watch(v)
            loss = objectives.ssl_hsic_loss(v, bandwidth=model.bandwidth(),
                                            num_features=model.num_features, seed=s)["loss"]
        return tape.gradient(loss, v)

    @tf.function(jit_compile=jit)
    def bandwidth(v, s):
        with tf.GradientTape() as tape:
            loss = -objectives.bandwidth_objective(tf.stop_gradient(v), model.bandwidth(),
                                                   num_points=model.bandwidth_points,
                                                   seed=rng.stateless_seed(s, 7))
        grad = tape.gradient(loss, model.log_bandwidth)
        if grad is None:
            raise RuntimeError("the bandwidth objective has no gradient w.r.t. log_bandwidth")
        return grad

    @tf.function(jit_compile=jit)
    def probe(h, y):
        with tf.GradientTape() as tape:
            loss, _ = model._probe_terms(h, y)
        return tape.gradient(loss, model.probe.trainable_variables)

    variables = model.trainable_variables
    grads = [tf.constant(gen.normal(scale=1e-3, size=v.shape).astype(np.float32)) for v in variables]

    @tf.function(jit_compile=jit)
    def optimizer_apply():
        model.optimizer.apply(grads, variables)

    enc_vars = model.encoder.trainable_variables
    sgd = keras.optimizers.SGD(0.1, momentum=0.9)
    sgd.build(enc_vars)
    enc_grads = [tf.constant(gen.normal(scale=1e-3, size=v.shape).astype(np.float32)) for v in enc_vars]

    @tf.function(jit_compile=jit)
    def sgd_apply():
        sgd.apply(enc_grads, enc_vars)

    @tf.function(jit_compile=jit)
    def ema():
        model.after_apply()
        return model.optimizer.iterations

    def sync(x):
        for t in tf.nest.flatten(x):
            if t is None:
                raise RuntimeError("a timed piece returned no gradient")
            np.asarray(t)

    pieces = {
        "heads online fwd+bwd (projector+predictor, 2 views)": lambda i: sync(heads_online(*feats)),
        "target projector fwd (2 views)": lambda i: sync(heads_target(*feats)),
        "SSL-HSIC objective + grad (RFF)": lambda i: sync(objective(views, seed)),
        "bandwidth objective + grad": lambda i: sync(bandwidth(views, seed)),
        "online probe + grad": lambda i: sync(probe(feats[0], labels)),
        "optimizer apply (LARS + Adams, all vars)": lambda i: (optimizer_apply(), sync(variables[0])),
        "baseline: SGD momentum apply (encoder vars)": lambda i: (sgd_apply(), sync(enc_vars[0])),
        "EMA update (encoder + projector)": lambda i: sync(ema()),
    }
    repeats = max(3, args.steps * args.epochs)
    out = {name: common.time_call(fn, repeats=repeats, warmup=2) for name, fn in pieces.items()}
    print(json.dumps(out))


def worker_torch(args):
    """The encoder's forward + backward (+ Linear(10), SGD momentum, cross-entropy) on 2B images
    in PyTorch, float32 and under bfloat16 autocast; prints JSON (run in a PyTorch venv)."""
    import torch
    from torch import nn

    from benchmarks import torch_parity

    torch.manual_seed(0)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = {"threads": torch.get_num_threads(), "torch": torch.__version__}
    n, size = 2 * args.batch, args.image_size
    x = torch.rand(n, 3, size, size)
    y = torch.randint(0, NUM_CLASSES, (n,))
    for name, dtype in (("float32", None), ("bfloat16_autocast", torch.bfloat16)):
        net = torch_parity._torch_resnet18(args.width, nn)(pad_same=False)
        features = net.blocks[-1].conv2.out_channels
        model = nn.Sequential(net, nn.Linear(features, NUM_CLASSES)).train()
        sgd = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

        def step():
            sgd.zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
                loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            sgd.step()
            return float(loss)

        for _ in range(args.warmup + 1):
            step()
        wall = []
        for _ in range(args.epochs):
            t = time.perf_counter()
            for _ in range(args.steps):
                step()
            wall.append((time.perf_counter() - t) / args.steps)
        out[name] = {"step_s": statistics.median(wall), "images_per_step": n}
    print(json.dumps(out))


# ---------------------------------------------------------------------------- main side


def _worker_argv(args, worker, **override):
    a = argparse.Namespace(**{**vars(args), **override})
    argv = [os.path.abspath(__file__), f"--worker={worker}", f"--batch={a.batch}",
            f"--steps={a.steps}", f"--epochs={a.epochs}", f"--warmup={a.warmup}",
            f"--depth={a.depth}", f"--width={a.width}", f"--image-size={a.image_size}",
            f"--cached-batches={a.cached_batches}", f"--threads={a.threads}",
            f"--inter-threads={a.inter_threads}", f"--mixed-precision={a.mixed_precision}",
            f"--input={a.input}", f"--batchnorm={a.batchnorm}"]
    return argv + (["--jit-compile"] if a.jit_compile else [])


#: --cpu-configs: (name, overrides of the command line, configurations it runs). The first row
#: is the default before the CPU precision work (float32, Keras' composite BatchNorm ops): the baseline.
BOTH = ("ssl_hsic", "supervised")
F32 = {"mixed_precision": "float32", "batchnorm": "fused"}
BF16 = {"mixed_precision": "mixed_bfloat16", "batchnorm": "fused"}
CPU_CONFIGS = (
    ("float32, Keras BN ops (before)", {**F32, "batchnorm": "keras"}, BOTH),
    ("mixed_bfloat16, Keras BN ops", {**BF16, "batchnorm": "keras"}, BOTH),
    ("float32, fused BN", F32, BOTH),
    ("mixed_bfloat16, fused BN", BF16, BOTH),
    ("XLA", {**F32, "jit_compile": True}, BOTH),
    ("mixed_bfloat16 + XLA", {**BF16, "jit_compile": True}, BOTH),
    ("bf16, fused BN, 1 inter-op thread", {**BF16, "inter_threads": 1}, BOTH),
    ("bf16, fused BN, real input (demo)", {**BF16, "input": "demo"}, ("ssl_hsic",)),
)


def cpu_configs(args):
    """Prints the CPU configurations side by side (img/s, speed-up over the default) and the
    PyTorch reference; returns the results."""
    results, rows = {}, []
    for name, override, configs in CPU_CONFIGS:
        for config in configs:
            r = common.run_worker(_worker_argv(args, config, **override), timeout=args.timeout)
            results[(name, config)] = r
            print(f"  done {name} / {config}", file=sys.stderr, flush=True)
    base = {c: results[(CPU_CONFIGS[0][0], c)] for c in ("ssl_hsic", "supervised")}

    def rate(r):
        return r["images_per_step"] / r["step_s"] if r and "error" not in r else None

    def cell(r, c):
        if r is None:
            return ["-", "-"]
        if "error" in r:
            return ["error", r["error"][:40]]
        speed, ref = rate(r), rate(base[c])
        return [f"{speed:.1f}", f"{speed / ref:.2f}x" if ref else "-"]

    for name, _, configs in CPU_CONFIGS:
        rows.append([name, *cell(results.get((name, "ssl_hsic")), "ssl_hsic"),
                     *cell(results.get((name, "supervised")), "supervised")])
    print(f"CPU configurations, ResNet-{args.depth} x{args.width:g} CIFAR stem, {args.image_size} "
          f"px, B = {args.batch}; median of {args.epochs} epochs x {args.steps} steps, "
          f"{os.cpu_count()} cores, TF threads {args.threads or 'default'}")
    print(common.format_table(
        ["configuration", "SSL-HSIC img/s", "x default", "encoder fwd+bwd img/s (2B)",
         "x default"], rows))
    torch = None
    if args.torch_python:
        torch = common.run_worker(_worker_argv(args, "torch"), timeout=args.timeout,
                                  python=args.torch_python)
        if "error" in torch:
            print(f"PyTorch: error {torch['error']}")
        else:
            # like with like: float32 against float32, bf16 against bf16 autocast
            for kind, name in (("float32", "float32, fused BN"),
                               ("bfloat16_autocast", "mixed_bfloat16, fused BN")):
                theirs, ours = rate(torch[kind]), rate(results[(name, "supervised")])
                ratio = f"{ours / theirs:.2f}" if ours else "-"
                print(f"PyTorch {torch['torch']} ({torch['threads']} threads), encoder fwd+bwd "
                      f"{kind}: {theirs:.1f} img/s; ours ({name}) / PyTorch = {ratio}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average at the end {load:.1f}")
    return {"results": {f"{n} / {c}": r for (n, c), r in results.items()}, "torch": torch}


_WHAT = {
    "supervised": "fit: encoder fwd+bwd on 2B + Dense(10), SGD-momentum",
    "forward": "encoder fwd (training=True BN) on 2B, no grad",
    "ssl_hsic": "fit: online fwd+bwd 2B, target fwd 2B, heads, HSIC, LARS, EMA",
    "ssl_hsic_no_target": "fit: online fwd+bwd 2B, projector, HSIC, LARS",
}


def _ratios(results):
    """Ratio lines from the results dict (config -> worker JSON); wall and CPU."""
    ok = {k: v for k, v in results.items() if "error" not in v}
    lines, values = [], {}
    if not {"supervised", "forward", "ssl_hsic"} <= set(ok):
        return ["ratios: not available (a configuration failed)"], values
    sup, fwd, ssl = ok["supervised"], ok["forward"], ok["ssl_hsic"]
    for key in ("step_s", "cpu_step_s"):
        kind = "wall" if key == "step_s" else "CPU"
        a = ssl[key] / sup[key]
        equiv = sup[key] + fwd[key]
        bb = ssl[key] / equiv
        values[f"naive_{kind}"], values[f"equivalent_{kind}"] = a, bb
        lines.append(f"({kind}) (a) naive: ssl_hsic / supervised(2B) = {1000 * ssl[key]:.0f} / "
                     f"{1000 * sup[key]:.0f} ms = {a:.2f}")
        lines.append(f"({kind}) (b) compute-equivalent: ssl_hsic / (supervised(2B) + forward(2B)) = "
                     f"{1000 * ssl[key]:.0f} / ({1000 * sup[key]:.0f} + {1000 * fwd[key]:.0f}) ms = "
                     f"{bb:.2f}  [target <= {RATIO_TARGET}: {'met' if bb <= RATIO_TARGET else 'NOT met'}]"
                     f"; machinery {1000 * (ssl[key] - equiv):+.0f} ms/step")
        if "ssl_hsic_no_target" in ok:
            nt = ok["ssl_hsic_no_target"][key]
            lines.append(f"({kind}) extra: ssl_hsic_no_target / supervised(2B) = {1000 * nt:.0f} / "
                         f"{1000 * sup[key]:.0f} ms = {nt / sup[key]:.2f}")
    return lines, values


def _set_threads(threads, inter_threads):
    import tensorflow as tf

    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    if inter_threads or threads:
        tf.config.threading.set_inter_op_parallelism_threads(inter_threads or threads)


def main(argv=None):
    args = _parse(argv)
    if args.worker == "torch":
        return worker_torch(args)
    if args.worker:
        _set_threads(args.threads, args.inter_threads)
    if args.cpu_configs:
        out = cpu_configs(args)
        if args.json:
            print(json.dumps(out))
        return 0
    if args.worker == "breakdown":
        return worker_breakdown(args)
    if args.worker:
        return worker_config(args)
    configs = [c for c in CONFIGS if not (args.no_extra and c == "ssl_hsic_no_target")]
    results, rows = {}, []
    for config in configs:
        r = common.run_worker(_worker_argv(args, config), timeout=args.timeout)
        results[config] = r
        print(f"  done {config}", file=sys.stderr, flush=True)
        if "error" in r:
            rows.append([config, "error", "-", "-", "-", "-", "-", "-", "-", r["error"][:100]])
            continue
        rows.append([
            config, r["images_per_step"], f"{1000 * r['step_s']:.0f}", f"{1000 * r['min_step_s']:.0f}",
            f"{1000 * r['cpu_step_s']:.0f}", f"{r['images_per_step'] / r['step_s']:.1f}",
            f"{r['peak_mib']:.0f}", f"{r['peak_with_warmup_mib']:.0f}", f"{r['warmup_s']:.0f}",
            _WHAT[config],
        ])
    cores = os.cpu_count()
    print(f"Training step, TensorFlow {'XLA' if args.jit_compile else 'tf.function (no XLA)'}, "
          f"ResNet-{args.depth} x{args.width:g} CIFAR stem, {args.image_size} px, B = {args.batch} "
          f"(SSL: B images x 2 views; supervised/forward: 2B = {2 * args.batch} images), "
          f"median of {args.epochs} epochs x {args.steps} steps after a {args.warmup}-step warm-up, "
          f"{cores} CPU cores, TF threads {args.threads or 'default'}")
    print(common.format_table(
        ["config", "images/step", "ms/step", "min ms", "CPU ms", "images/s", "peak RSS MiB",
         "peak incl. warm-up", "warm-up s", "what one step runs"], rows))
    print("images/s: distinct images per second (an SSL image is 2 views, so the SSL rows push "
          "2x as many encoder passes as images); CPU ms: process CPU time per step, all threads; "
          "peak RSS: process high-water mark during the timed epochs; incl. warm-up: from process "
          "start to the end of the warm-up fit()")
    lines, ratios = _ratios(results)
    print("\n".join(lines))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average at the end {load:.1f} (wall times are only meaningful on a quiet machine; "
          "CPU-time ratios are the more robust figure on a shared one)")
    breakdown = None
    run_breakdown = args.breakdown == "always" or (
        args.breakdown == "auto"
        and max(ratios.get("equivalent_wall", 0.0), ratios.get("equivalent_CPU", 0.0)) > RATIO_TARGET)
    if run_breakdown:
        breakdown = common.run_worker(_worker_argv(args, "breakdown"), timeout=args.timeout)
        print(f"\nBreakdown of the SSL step besides the encoders (B = {args.batch}, random "
              "features, each piece its own tf.function, median wall / CPU ms per call):")
        if "error" in breakdown:
            print(f"  error: {breakdown['error']}")
        else:
            brow = [[name, f"{1000 * t['median_s']:.1f}", f"{1000 * t['cpu_s']:.1f}"]
                    for name, t in breakdown.items()]
            print(common.format_table(["piece", "ms", "CPU ms"], brow))
    if args.json:
        print(json.dumps({"args": vars(args), "results": results, "ratios": ratios,
                          "breakdown": breakdown}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
