"""How large each method's gradient is, against its weights: what one SGD learning rate means.

LARS sets every layer's step to lr x trust x |w|, whatever the gradient's scale; SGD steps by
lr x |g|. So an SGD learning rate tuned on SimCLR's InfoNCE means another step size for a
method whose loss has another scale (SSL-HSIC's HSIC terms, BYOL's 2 - 2 cos). For each preset
this builds the model (ResNet-18 x0.25 unless `--width`), draws `--batches` augmented batches of
the demo images at the preset's views, and prints the objective's gradient norm over the
encoder, over its conv kernels, the kernels' norm, and the relative step |g| / |w| that an SGD
learning rate multiplies (averaged over the batches), at initialisation, and at the weights of a
run's checkpoint with `--at NAME=CHECKPOINT_DIR` (a row per `--at`; NAME a preset). The last column is the SGD learning
rate that gives the same relative step as `--reference` at `--reference_lr`.

    python -m benchmarks.gradient_scale --presets simclr,ssl_hsic_no_target,ssl_hsic,byol \
        --at simclr=RUN/checkpoints/ckpt-000001372
"""

import argparse
import importlib.util
import os
import sys

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def preset(name, width):
    spec = importlib.util.spec_from_file_location(
        name, os.path.join(ROOT, "configs", f"cifar10_{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config()
    config.model.width_multiplier = width
    config.mixed_precision = "float32"
    return config


def measure(config, batches, seed, checkpoint=None):
    import keras
    import tensorflow as tf

    from sslhsic_tf import data
    from sslhsic_tf.training import loop

    keras.utils.set_random_seed(seed)
    total_steps = int(100 * 196)
    encoder, model = loop.build_model(config, num_classes=10, total_steps=total_steps)
    model.optimizer.build(model.trainable_variables)
    if checkpoint:
        model.load_weights(os.path.join(checkpoint, "model.weights.h5"))
    dataset = data.pretrain_dataset(data.demo("train"), views=config.data.views,
                                    global_batch_size=config.batch_size, seed=seed)
    kernels = [v for v in encoder.trainable_variables if len(v.shape) == 4]
    rows = []
    for step, batch in zip(range(batches), dataset):
        views, label = model.unpack_batch(batch)
        views, constants = model.prepare_step(views, model.step_seed())
        constants = tf.nest.map_structure(tf.stop_gradient, constants)
        with tf.GradientTape() as tape:
            _, terms, _ = model.step_losses(views, label, constants, model.step_seed())
        grads = tape.gradient(terms["loss"], encoder.trainable_variables)
        by_var = dict(zip([v.path for v in encoder.trainable_variables], grads))
        kernel_grads = [by_var[v.path] for v in kernels]
        g_all = float(tf.linalg.global_norm([g for g in grads if g is not None]))
        g_kernels = float(tf.linalg.global_norm(kernel_grads))
        w_kernels = float(tf.linalg.global_norm([v.value for v in kernels]))
        per_layer = np.median([float(tf.norm(g) / tf.norm(v.value))
                               for g, v in zip(kernel_grads, kernels)])
        rows.append((float(terms["loss"]), g_all, g_kernels, w_kernels, per_layer))
    return np.mean(rows, axis=0)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="simclr,ssl_hsic_no_target,ssl_hsic,byol")
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reference", default="simclr")
    parser.add_argument("--reference_lr", type=float, default=0.12)
    parser.add_argument("--at", action="append", default=[], metavar="NAME=CHECKPOINT_DIR")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.presets.split(",") if n.strip()]
    results = {name: measure(preset(name, args.width), args.batches, args.seed) for name in names}
    reference = results.get(args.reference)
    for spec in args.at:
        name, _, checkpoint = spec.partition("=")
        if not checkpoint or not os.path.isdir(checkpoint):
            parser.error(f"--at expected NAME=CHECKPOINT_DIR with an existing folder; got {spec!r}")
        label = f"{name} at {os.path.basename(os.path.normpath(checkpoint))}"
        results[label] = measure(preset(name, args.width), args.batches, args.seed, checkpoint)
    print(f"ResNet-18 x{args.width:g}, batch 256, demo images, mean of {args.batches} batches, "
          "at initialisation unless a checkpoint is named")
    print("| preset | loss | |g| encoder | |g| kernels | |w| kernels | median |g|/|w| per kernel "
          f"| SGD lr matching {args.reference} at {args.reference_lr:g} |")
    print("|---|---|---|---|---|---|---|")
    for name, (loss, g_all, g_k, w_k, per_layer) in results.items():
        match = (f"{args.reference_lr * reference[4] / per_layer:.3g}"
                 if reference is not None else "")
        print(f"| {name} | {loss:.4f} | {g_all:.3e} | {g_k:.3e} | {w_k:.2f} | {per_layer:.3e} "
              f"| {match} |")


if __name__ == "__main__":
    sys.exit(main())
