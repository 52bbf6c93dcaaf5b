"""An encoder's BatchNorm scale, and the same encoder at another scale: the 1%-label fine-tuning
gap of docs/zoo.md.

    python -m benchmarks.bn_scale show zoo:NAME [zoo:NAME ...]
    python -m benchmarks.bn_scale rescale zoo:NAME --factor=4 --out=ENCODER.keras
    sslhsic-evaluate --encoder=ENCODER.keras --protocols=semi_supervised \\
        --semi_protocol=finetune --fractions=0.01 --finetune_epochs=30 ...

`rescale` multiplies every BatchNorm's gamma and beta by the factor and the moving statistics
of every BatchNorm that reads a scaled activation (all but the stem's) with it: every ReLU and
residual sum is then scaled by the factor, and the features are the same times the factor (up to
BatchNorm's epsilon). Fine-tuning sees the same representation at another scale.
"""

import argparse
import os
import sys

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def batch_norms(encoder):
    return [layer for layer in encoder.layers if type(layer).__name__ == "BatchNorm"]


def scale_of(encoder):
    """(mean |gamma|, mean |beta|) over the encoder's BatchNorms."""
    norms = batch_norms(encoder)
    if not norms:
        raise ValueError(f"{encoder.name}: no BatchNorm layers (expected an sslhsic_tf ResNet)")
    gamma = np.concatenate([np.abs(np.asarray(layer.gamma)).ravel() for layer in norms])
    beta = np.concatenate([np.abs(np.asarray(layer.beta)).ravel() for layer in norms])
    return float(gamma.mean()), float(beta.mean())


def rescale(encoder, factor, stem="stem_bn"):
    """Scales `encoder` in place so that its features are `factor` times what they were."""
    if not factor > 0:
        raise ValueError(f"--factor must be > 0 (ReLU keeps only a positive scale); got {factor}")
    for layer in batch_norms(encoder):
        layer.gamma.assign(np.asarray(layer.gamma) * factor)
        layer.beta.assign(np.asarray(layer.beta) * factor)
        if layer.name != stem:  # its input is the stem conv of the unscaled image
            layer.moving_mean.assign(np.asarray(layer.moving_mean) * factor)
            layer.moving_variance.assign(np.asarray(layer.moving_variance) * factor ** 2)
    return encoder


def _load(spec):
    """The Keras encoder of an sslhsic-evaluate encoder spec (zoo:NAME, a .keras file, a run)."""
    from sslhsic_tf.evaluation import encoders

    return encoders.load_encoder(spec)[0]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    show = commands.add_parser("show", help="mean |gamma| and |beta| of each encoder")
    show.add_argument("encoders", nargs="+", help="zoo:NAME, a .keras file or a run folder")
    scaled = commands.add_parser("rescale", help="write the encoder at another scale")
    scaled.add_argument("encoder", help="zoo:NAME, a .keras file or a run folder")
    scaled.add_argument("--factor", type=float, required=True)
    scaled.add_argument("--out", required=True, help="the .keras file to write")
    args = parser.parse_args(argv)
    if args.command == "show":
        print("| encoder | mean abs gamma | mean abs beta |\n|---|---|---|")
        for spec in args.encoders:
            gamma, beta = scale_of(_load(spec))
            print(f"| {spec} | {gamma:.3f} | {beta:.3f} |")
        return
    try:
        encoder = rescale(_load(args.encoder), args.factor)
    except ValueError as error:
        parser.error(str(error))
    encoder.save(args.out)
    print(f"wrote {args.out}: mean |gamma| {scale_of(encoder)[0]:.3f}")


if __name__ == "__main__":
    main()
