"""ResNet v1 encoders (10, 18, 34, 50, 101, 152, 200; width 1x, 2x, 4x): images -> pooled features.

`resnet(depth, width_multiplier, cifar_stem)` builds a functional `keras.Model`

    [B, H, W, 3] float RGB in [0, 1]  ->  [B, F] float32,  F = resnet_feature_dim(depth, width)

with any H, W (input shape `(None, None, 3)`), so multi-crop views of different sizes share one
encoder. Being functional, it serialises without custom code beyond the registered layers and
works with `keras.models.clone_model` (the EMA target network).

Architecture (He et al. 2016, v1 with the stride on the 3x3 convolution of bottlenecks, as in
torchvision and the BYOL / SSL-HSIC reference code):

- input standardisation by fixed ImageNet mean/std (`ImageNormalization`, no trainable state);
- stem: ImageNet `7x7/2 conv -> BN -> ReLU -> 3x3/2 max-pool`, or CIFAR `3x3/1 conv -> BN ->
  ReLU` (no max-pool);
- four stages of 64, 128, 256, 512 channels (times the width multiplier; the stem too), first
  block of stages 2-4 with stride 2; basic blocks (two 3x3 convs) for depth 10/18/34, bottlenecks
  (1x1, 3x3, 1x1 with expansion 4) for depth >= 50; a 1x1 projection shortcut (conv + BN)
  wherever the shape changes;
- global average pooling, computed in float32 (so the features are float32 under a
  mixed-precision policy, as the TF-Hub feature-vector contract requires).

Convolutions have no bias (each is followed by BatchNorm); "same" padding; He-normal
(fan-out) kernel initialisation. All BatchNorm layers are `sslhsic_tf.models.BatchNorm`
(cross-replica statistics, momentum 0.9, epsilon 1e-5 by default).
"""

import keras

from sslhsic_tf.models.layers import IMAGENET_MEAN, IMAGENET_STD, BatchNorm, ImageNormalization

# depth -> (block kind, blocks per stage)
RESNET_BLOCKS = {
    10: ("basic", (1, 1, 1, 1)),  # one block per stage: small CPU runs and tests
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
    200: ("bottleneck", (3, 24, 36, 3)),
}
STAGE_CHANNELS = (64, 128, 256, 512)
BOTTLENECK_EXPANSION = 4


def _check_depth_width(depth, width_multiplier):
    if isinstance(depth, bool) or not isinstance(depth, int) or depth not in RESNET_BLOCKS:
        raise ValueError(
            f"`depth` must be one of {sorted(RESNET_BLOCKS)}, got {depth!r}"
        )
    if (
        isinstance(width_multiplier, bool)
        or not isinstance(width_multiplier, (int, float))
        or not width_multiplier > 0
        or abs(STAGE_CHANNELS[0] * width_multiplier - round(STAGE_CHANNELS[0] * width_multiplier)) > 1e-9
    ):
        raise ValueError(
            "`width_multiplier` must be a positive number w such that 64·w is an integer (1, 2 "
            f"and 4 are the published widths; 0.25 or 0.5 make small CPU models), got "
            f"{width_multiplier!r}"
        )


def _channels(base, width_multiplier):
    return int(round(base * width_multiplier))


def resnet_feature_dim(depth, width_multiplier=1):
    """Returns F, the size of the pooled features: 512·w for depth 10/18/34, 2048·w for 50+."""
    _check_depth_width(depth, width_multiplier)
    kind, _ = RESNET_BLOCKS[depth]
    expansion = BOTTLENECK_EXPANSION if kind == "bottleneck" else 1
    return _channels(STAGE_CHANNELS[-1], width_multiplier) * expansion


#: Padding of strided layers: "symmetric" pads (k - 1) / 2 on every side, as torchvision and
#: TF-slim's fixed padding do, so the 3x3 window of output i is centred on input pixel s i, where
#: the strided 1x1 shortcut samples; "same" is TensorFlow's SAME (0 before, 1 after on even sizes:
#: the window is centred one pixel after the shortcut's sample).
PADDINGS = ("symmetric", "same")


def _conv_layer(filters, kernel_size, strides, name, padding="same"):
    return keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        use_bias=False,
        kernel_initializer=keras.initializers.VarianceScaling(
            scale=2.0, mode="fan_out", distribution="untruncated_normal"
        ),
        name=name,
    )


def _conv(x, filters, kernel_size, strides, name, padding):
    """A convolution; strided ones with `padding="symmetric"` pad explicitly then run VALID."""
    if strides == 1 or kernel_size == 1 or padding == "same":
        return _conv_layer(filters, kernel_size, strides, name)(x)
    pad = (kernel_size - 1) // 2
    x = keras.layers.ZeroPadding2D(pad, name=f"{name}_pad")(x)
    return _conv_layer(filters, kernel_size, strides, name, padding="valid")(x)


def _block(x, kind, filters, strides, name, bn, zero_init_residual, padding):
    """One residual block; `filters` is the stage width (before expansion)."""
    out_channels = filters * (BOTTLENECK_EXPANSION if kind == "bottleneck" else 1)
    last_gamma = "zeros" if zero_init_residual else "ones"
    shortcut = x
    if strides != 1 or x.shape[-1] != out_channels:
        shortcut = _conv(x, out_channels, 1, strides, f"{name}_proj_conv", padding)
        shortcut = bn(f"{name}_proj_bn")(shortcut)
    if kind == "basic":
        y = _conv(x, filters, 3, strides, f"{name}_conv1", padding)
        y = bn(f"{name}_bn1")(y)
        y = keras.layers.ReLU(name=f"{name}_relu1")(y)
        y = _conv(y, filters, 3, 1, f"{name}_conv2", padding)
        y = bn(f"{name}_bn2", gamma_initializer=last_gamma)(y)
    else:
        y = _conv(x, filters, 1, 1, f"{name}_conv1", padding)
        y = bn(f"{name}_bn1")(y)
        y = keras.layers.ReLU(name=f"{name}_relu1")(y)
        y = _conv(y, filters, 3, strides, f"{name}_conv2", padding)
        y = bn(f"{name}_bn2")(y)
        y = keras.layers.ReLU(name=f"{name}_relu2")(y)
        y = _conv(y, out_channels, 1, 1, f"{name}_conv3", padding)
        y = bn(f"{name}_bn3", gamma_initializer=last_gamma)(y)
    y = keras.layers.Add(name=f"{name}_add")([shortcut, y])
    return keras.layers.ReLU(name=f"{name}_out")(y)


def resnet(
    depth,
    width_multiplier=1,
    cifar_stem=False,
    *,
    zero_init_residual=False,
    bn_momentum=0.9,
    bn_epsilon=1e-5,
    normalize_input=True,
    input_mean=IMAGENET_MEAN,
    input_std=IMAGENET_STD,
    input_shape=(None, None, 3),
    padding="same",
    name=None,
):
    """Builds a ResNet v1 encoder: `[B, H, W, C]` images in [0, 1] -> `[B, F]` float32 features.

    Args:
      depth: 10, 18, 34 (basic blocks), 50, 101, 152 or 200 (bottlenecks).
      width_multiplier: w; every convolution, the stem included, has w times the standard
        number of channels. 1, 2, 4 are the published widths; fractions with 64·w an integer
        (0.25, 0.5) give small models for CPU runs and tests.
      cifar_stem: if True, a 3x3 stride-1 first convolution and no max-pool (for 32-64 px
        images); otherwise the ImageNet stem (7x7/2 conv, 3x3/2 max-pool).
      zero_init_residual: initialise the last BatchNorm gamma of every block at 0, so each
        residual branch starts as the identity.
      bn_momentum, bn_epsilon: BatchNorm moving-average decay and epsilon (recipe: 0.9, 1e-5).
      normalize_input: standardise the input by `input_mean`/`input_std` inside the model
        (the package's encoders all do; the exported input contract is then [0, 1] RGB).
      input_mean, input_std: per-channel statistics (default ImageNet RGB).
      input_shape: `(H, W, C)` of one image, `None` for any size; C must match the statistics.
      padding: of the strided layers (stem, 3x3 downsampling convolutions, max-pool):
        "same" (TensorFlow SAME, as the BYOL / SSL-HSIC Haiku code) or "symmetric"
        ((k - 1) / 2 on every side, as torchvision; see `PADDINGS`).
      name: model name (default `resnet{depth}`, with `_x{w}` and `_cifar` suffixes).

    Returns:
      A functional `keras.Model`; `resnet_feature_dim(depth, width_multiplier)` gives F.
    """
    _check_depth_width(depth, width_multiplier)
    if not isinstance(cifar_stem, bool):
        raise TypeError(f"`cifar_stem` must be a bool, got {cifar_stem!r}")
    if padding not in PADDINGS:
        raise ValueError(f"`padding` must be one of {PADDINGS}, got {padding!r}")
    if not isinstance(zero_init_residual, bool):
        raise TypeError(f"`zero_init_residual` must be a bool, got {zero_init_residual!r}")
    try:
        input_shape = tuple(input_shape)
    except TypeError:
        raise TypeError(f"`input_shape` must be a tuple (H, W, C), got {input_shape!r}") from None
    if len(input_shape) != 3 or not isinstance(input_shape[-1], int) or input_shape[-1] < 1:
        raise ValueError(
            f"`input_shape` must be (H, W, C) with a known channel count C, got {input_shape!r}"
        )
    if name is None:
        name = f"resnet{depth}" + (f"_x{width_multiplier:g}" if width_multiplier != 1 else "")
        name += "_cifar" if cifar_stem else ""

    def bn(layer_name, **kwargs):
        return BatchNorm(momentum=bn_momentum, epsilon=bn_epsilon, name=layer_name, **kwargs)

    kind, blocks = RESNET_BLOCKS[depth]
    images = keras.Input(shape=input_shape, name="images")
    x = images
    if normalize_input:
        x = ImageNormalization(input_mean, input_std, name="normalize")(x)
    if cifar_stem:
        x = _conv(x, _channels(64, width_multiplier), 3, 1, "stem_conv", padding)
    else:
        x = _conv(x, _channels(64, width_multiplier), 7, 2, "stem_conv", padding)
    x = bn("stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    if not cifar_stem:
        if padding == "symmetric":  # after a ReLU, zero padding equals torchvision's -inf
            x = keras.layers.ZeroPadding2D(1, name="stem_pool_pad")(x)
        x = keras.layers.MaxPooling2D(3, strides=2, padding="valid" if padding == "symmetric"
                                      else "same", name="stem_pool")(x)
    for stage, (channels, num_blocks) in enumerate(zip(STAGE_CHANNELS, blocks), start=1):
        for block in range(1, num_blocks + 1):
            strides = 2 if stage > 1 and block == 1 else 1
            x = _block(
                x, kind, _channels(channels, width_multiplier), strides, f"stage{stage}_block{block}", bn,
                zero_init_residual, padding,
            )
    features = keras.layers.GlobalAveragePooling2D(dtype="float32", name="avg_pool")(x)
    model = keras.Model(images, features, name=name)
    model.pyramid_outputs = pyramid_outputs(model)  # KerasHub's FeaturePyramidBackbone attribute
    return model


def pyramid_outputs(encoder):
    """The stage outputs of a ResNet encoder by stride, KerasHub's `pyramid_outputs`:
    `{"P<l>": [B, H / 2^l, W / 2^l, C]}`, the deepest output at each stride 2^l.

    ImageNet stem: P1 (the stem before its max-pool) and P2-P5 (stages 1-4); CIFAR stem (stride
    1 until stage 2): P0 (stage 1), P1-P3 (stages 2-4). Read from the layer names, so it works
    on a loaded encoder (`.keras`, `zoo.load_model`) as on a new one. The last one, pooled over
    space, is the encoder's features.
    """
    names = {layer.name for layer in encoder.layers}
    if "stem_relu" not in names or "avg_pool" not in names:
        raise ValueError(f"encoder {encoder.name!r} is not a ResNet of sslhsic_tf.models.resnet "
                         "(no stem_relu / avg_pool layers)")
    imagenet_stem = "stem_pool" in names
    outputs = {"P1" if imagenet_stem else "P0": encoder.get_layer("stem_relu").output}
    for stage in range(1, len(STAGE_CHANNELS) + 1):
        last = max(int(n.split("_block")[1].split("_")[0]) for n in names
                   if n.startswith(f"stage{stage}_block") and n.endswith("_out"))
        level = stage + 1 if imagenet_stem else max(stage - 1, 0)
        outputs[f"P{level}"] = encoder.get_layer(f"stage{stage}_block{last}_out").output
    return outputs


def feature_pyramid(encoder):
    """A `keras.Model` sharing `encoder`'s layers (and weights): images -> `pyramid_outputs`
    (float32 under any policy). For dense tasks: detection or segmentation heads on P2-P5."""
    outputs = {key: keras.layers.Activation("linear", dtype="float32", name=f"pyramid_{key}")(t)
               for key, t in pyramid_outputs(encoder).items()}
    return keras.Model(encoder.input, outputs, name=f"{encoder.name}_pyramid")
