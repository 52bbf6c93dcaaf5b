"""Input pipelines: pretraining views, evaluation and probe-training batches (tf.data).

Pretraining batches are `{"views": (v1, v2, ...), "label": y}`: each view float32 RGB in [0, 1],
`[b, S_v, S_v, 3]` (multi-crop views differ in size); `label` int32 `[b]`, -1 for unlabelled
images (always present, so every batch has the same structure).

Order and randomness (what makes runs reproducible and resumable):
- The data is one endless stream of positions g = 0, 1, 2, ...; position g is element
  `i = g mod N` of epoch `e = g // N`, i.e. source index `index_shuffle(i, seed(e))`: a
  stateless permutation per epoch (no buffer, no state). Global batch k holds positions
  [kG, (k+1)G); batches run across epoch boundaries, so every batch is full.
- Every random draw for the image at position g comes from a stateless seed of
  (seed, g, view), drawn per image (crop box, flip, jitter strengths and order, ...).
- Hence `start_step=k` gives exactly the batches k, k+1, ... of an uninterrupted run, with no
  RNG state to checkpoint; skipping happens on positions, before anything is read or decoded.
- Under `tf.distribute`, input pipeline p of P (`input_context`) takes the p-th contiguous
  block of G/P positions of each global batch and splits it into per-replica batches
  (`drop_remainder` semantics by construction); the global batch is therefore the same for any
  number of replicas and workers. (This replaces `input_context.shard`, whose element-strided
  split would change batch composition with the worker count.)
- "stream" sources (no random access) are shuffled per epoch within consecutive blocks of
  `shuffle_buffer` elements (stateless permutations keyed by seed, epoch and block) and resumed
  by skipping encoded elements; each input pipeline reads the stream and keeps its own
  positions.

Work split: per element (parallel map): index, load/decode, draw uniforms; per batch (after
`.batch()`, vectorised): crops by interpolation matrices (images of one static shape, e.g.
CIFAR) and the keras.ops pixel augmentation. Images of varying size are cropped per element
(`tf.image.resize`, same formula). With `pixel_stage="device"` (the default under the JAX
backend, where tf.data cannot run keras.ops) the pipeline stops after the geometric part and the
trainer calls `pixel_augment_views(views, step_seed, view_configs)` (`sslhsic_tf.data.device`)
in its jitted step.

Bad input: a global batch not divisible by the replica count is a ValueError; so are
`num_epochs` smaller than one batch and unknown presets/modes. An image smaller than a random
resized crop is upsampled (as in every ImageNet pipeline; not an error); an image smaller than
the probe's `pad_crop` size is an error (ValueError when the source's shape is static, else a
TensorFlow InvalidArgumentError naming the crop size when reached). Float images of a stream
outside [0, 1] stop the pipeline with an InvalidArgumentError (array sources are checked when
built). Corrupt files are handled by the sources (error or counted, logged skip); a "files"
source built with `verify=False` raises TensorFlow's decode error when it reaches one.
"""

import keras
import numpy as np
import tensorflow as tf

from sslhsic_tf.data import crops as _crops
from sslhsic_tf.data import decode as _decode
from sslhsic_tf.data import pixel as _pixel
from sslhsic_tf.data.augment import CropConfig, resolve_eval, resolve_views
from sslhsic_tf.data.sources import ImageSource
from sslhsic_tf.utils import backend

AUTOTUNE = tf.data.AUTOTUNE
TF = _crops.TF_NAMESPACE
NC = _crops.NUM_CROP_UNIFORMS
NP = _pixel.NUM_PIXEL_UNIFORMS
# Fixed-shape images up to this many pixels are cropped per batch with interpolation matrices
# (cost ~ S * H * W per image); larger ones per element with tf.image.resize (~ S^2).
BATCHED_CROP_MAX_PIXELS = 96 * 96
_SHUFFLE, _AUGMENT = 1, 2
_NO_END = 2**62


# ---------------------------------------------------------------------------------------------
# Seeds and positions.


def _base_seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {seed!r}")
    return tf.constant([int(seed) % (2**31 - 1), 0], tf.int32)


def _fold(seed, *data):
    for d in data:
        seed = tf.random.experimental.stateless_fold_in(seed, tf.cast(d, tf.int64))
    return seed


def _check_batch(global_batch_size, input_context):
    if isinstance(global_batch_size, bool) or not isinstance(global_batch_size, (int, np.integer)) \
            or global_batch_size < 1:
        raise ValueError(f"global_batch_size must be a positive int, got {global_batch_size!r}")
    replicas = 1 if input_context is None else input_context.num_replicas_in_sync
    pipelines = 1 if input_context is None else input_context.num_input_pipelines
    pipeline = 0 if input_context is None else input_context.input_pipeline_id
    if global_batch_size % replicas:
        raise ValueError(
            f"global_batch_size={global_batch_size} is not divisible by the number of replicas "
            f"({replicas}); every replica needs an equal share (use a multiple of {replicas})"
        )
    if replicas % pipelines:
        raise ValueError(f"{replicas} replicas cannot be split over {pipelines} input pipelines")
    return int(global_batch_size), replicas, pipelines, pipeline


def _check_steps(start_step, num_epochs):
    if isinstance(start_step, bool) or not isinstance(start_step, (int, np.integer)) \
            or start_step < 0:
        raise ValueError(f"start_step must be an int >= 0, got {start_step!r}")
    if num_epochs is not None and (
        isinstance(num_epochs, bool) or not isinstance(num_epochs, (int, float)) or num_epochs <= 0
    ):
        raise ValueError(f"num_epochs must be None (endless) or > 0, got {num_epochs!r}")


def _check_source(source):
    if not isinstance(source, ImageSource):
        raise TypeError(
            f"source must be an ImageSource (see sslhsic_tf.data.sources), got "
            f"{type(source).__name__}"
        )


def steps_per_epoch(source, global_batch_size):
    """Whole global batches per pass over `source` (batches run across epoch boundaries)."""
    _check_source(source)
    return source.num_examples // int(global_batch_size)


def _positions(first_step, end_step, global_batch, pipelines, pipeline):
    """Positions (int64) of this input pipeline's block of each global batch, in order."""
    if pipelines == 1:
        end = _NO_END if end_step == _NO_END else end_step * global_batch
        return tf.data.Dataset.range(first_step * global_batch, end)
    block = global_batch // pipelines
    offset = pipeline * block
    steps = tf.data.Dataset.range(first_step, end_step)
    return steps.flat_map(
        lambda k: tf.data.Dataset.range(k * global_batch + offset,
                                        k * global_batch + offset + block)
    )


def _mine(position, global_batch, pipelines, pipeline):
    block = global_batch // pipelines
    return tf.equal((position % global_batch) // block, pipeline)


# ---------------------------------------------------------------------------------------------
# Loading.


def _to_rgb(image):
    """Decoded image of rank 2/3 with 1, 3 or 4 channels -> `[H, W, 3]` (stream sources)."""
    if image.shape.rank == 2:
        image = image[..., None]
    channels = image.shape[-1]
    if channels == 1:
        image = tf.tile(image, [1, 1, 3])
    elif channels == 4:
        image = image[..., :3]
    elif channels is None:
        image = tf.cond(tf.shape(image)[-1] == 1, lambda: tf.tile(image, [1, 1, 3]),
                        lambda: image[..., :3])
    image.set_shape(image.shape[:2].concatenate([3]))
    return image


def _random_access_loader(source, shuffle_seed):
    """`load(position) -> (position, image, label)`; `load.image_shape` is the static shape."""
    n = source.num_examples

    def load(position):
        i = position % n
        if shuffle_seed is not None:
            epoch = position // n
            i = tf.random.experimental.index_shuffle(
                i, _fold(shuffle_seed, epoch), tf.constant(n - 1, tf.int64)
            )
        image, label = source.lookup(i)
        return position, image, label

    shape = source.image_shape
    load.image_shape = tf.TensorShape(shape if shape is not None else [None, None, 3])
    return load


def _stream_image_shape(source):
    spec = source.stream().element_spec[0]
    if source.stream_encoded or spec.shape.rank not in (2, 3):
        return tf.TensorShape([None, None, 3])
    return spec.shape[:2].concatenate([3])


def _block_shuffle(ds, block, seed):
    """Shuffles `(x, y)` elements within consecutive blocks of `block` by stateless permutations
    keyed by (seed, block index). (Unlike `Dataset.shuffle`, it takes a tensor seed whatever the
    global seed, and an element moves only within its block.)"""
    spec = ds.element_spec[0]
    regular = spec.shape.is_fully_defined()
    ds = ds.batch(block) if regular else ds.ragged_batch(block)

    def permute(j, batch):
        x, y = batch
        n = tf.shape(y, out_type=tf.int64)[0]
        perm = tf.random.experimental.index_shuffle(tf.range(n), _fold(seed, j), n - 1)
        return tf.gather(x, perm), tf.gather(y, perm)

    ds = ds.enumerate().map(backend.without_autograph(permute)).unbatch()
    if not regular:
        ds = ds.map(backend.without_autograph(
            lambda x, y: (x.to_tensor() if isinstance(x, tf.RaggedTensor) else x, y)))
    return ds


def _stream_positions(source, shuffle_seed, shuffle_buffer, first_position):
    """`(position, image, label)` from a stream source, starting at `first_position`."""
    n = source.num_examples

    def epoch_stream(epoch):
        ds = source.stream_dataset().take(n)
        if shuffle_seed is not None:
            ds = _block_shuffle(ds, shuffle_buffer, _fold(shuffle_seed, epoch))
        return ds.enumerate().map(
            backend.without_autograph(lambda i, xy: (epoch * n + i, xy[0], xy[1])))

    first_epoch = first_position // n
    ds = tf.data.Dataset.range(first_epoch, _NO_END).flat_map(epoch_stream)
    return ds.skip(first_position - first_epoch * n)


def _decode_stream_image(source, image):
    if source.stream_encoded:
        return _decode.decode_rgb(image)
    image = _to_rgb(image)
    if image.dtype.is_floating:  # array sources are checked when built; streams here
        tf.debugging.assert_greater_equal(image, tf.cast(0, image.dtype), message=(
            f"{source.name}: float images must lie in [0, 1] (pass uint8 for 0..255 pixels)"))
        tf.debugging.assert_less_equal(image, tf.cast(1, image.dtype), message=(
            f"{source.name}: float images must lie in [0, 1] (pass uint8 for 0..255 pixels)"))
    elif image.dtype != tf.uint8:
        raise TypeError(f"{source.name}: stream images must be uint8 or float in [0, 1], got "
                        f"{image.dtype.name}")
    return image


# ---------------------------------------------------------------------------------------------
# Geometry per element (images of varying size) and per batch (one static size).


def _float01(image):
    x = tf.cast(image, tf.float32)
    return x / 255.0 if image.dtype.is_integer else x


def _crop_one(image, u, crop):
    """Random resized crop + flip of one `[H, W, 3]` image from uniforms `[NC]`."""
    shape = tf.shape(image)
    top, left, ch, cw, flip = _crops.crop_boxes_from_uniforms(
        u[None], shape[0], shape[1], crop.scale, crop.ratio, crop.flip_prob, xp=TF
    )
    box = [tf.cast(v[0], tf.int32) for v in (top, left, ch, cw)]
    window = tf.slice(image, [box[0], box[1], 0], [box[2], box[3], 3])
    out = tf.image.resize(window, (crop.size, crop.size), method=crop.interpolation,
                          antialias=crop.antialias)
    out = out / 255.0 if image.dtype.is_integer else out
    out = tf.where(flip[0], tf.reverse(out, axis=[1]), out)
    return tf.clip_by_value(out, 0.0, 1.0)


def _crop_batch(images, u, crop, planar):
    """Random resized crops + flips of a batch `[b, H, W, 3]` (static H, W); uniforms `[b, NC]`."""
    top, left, ch, cw, flip = _crops.crop_boxes_from_uniforms(
        u, images.shape[1], images.shape[2], crop.scale, crop.ratio, crop.flip_prob, xp=TF
    )
    out = _crops.resized_crop(images, top, left, ch, cw, crop.size, flip, crop.interpolation,
                              crop.antialias, planar=planar, xp=TF)
    return out if planar else tf.clip_by_value(out, 0.0, 1.0)


def _batched_crops_ok(shape, crop_mode):
    """Whether images of static `shape` ([H, W, 3], dims may be None) are cropped per batch."""
    static = shape.rank == 3 and shape[0] is not None and shape[1] is not None
    if crop_mode == "per_element":
        return False
    if crop_mode == "batched":
        if not static:
            raise ValueError("crop_mode='batched' needs images of one static shape (an 'array' "
                             "source); use 'auto' or 'per_element'")
        return True
    return static and shape[0] * shape[1] <= BATCHED_CROP_MAX_PIXELS


def _resolve_pixel_stage(pixel_stage):
    if pixel_stage == "auto":
        return backend.pixel_stage()
    if pixel_stage not in ("pipeline", "device"):
        raise ValueError(f"pixel_stage must be 'auto', 'pipeline' or 'device', got {pixel_stage!r}")
    if pixel_stage == "pipeline" and keras.backend.backend() != "tensorflow":
        raise ValueError(
            "pixel_stage='pipeline' runs keras.ops inside tf.data, which needs the TensorFlow "
            f"backend (current: {keras.backend.backend()}); use pixel_stage='device' and "
            "pixel_augment_views(...) in the training step"
        )
    return pixel_stage


def _options(ds):
    options = tf.data.Options()
    options.deterministic = True
    options.experimental_optimization.map_parallelization = True
    return ds.with_options(options)


# ---------------------------------------------------------------------------------------------
# Pretraining.


def pretrain_dataset(source, views="cifar10", global_batch_size=256, seed=0, *, start_step=0,
                     num_epochs=None, input_context=None, pixel_stage="auto", crop_mode="auto",
                     shuffle_buffer=10_000):
    """Augmented multi-view batches for pretraining.

    Args:
      source: an `ImageSource`.
      views: a preset name (`augment.PRESETS`), a `ViewConfig`, or a sequence of them.
      global_batch_size: images per global batch (each replica gets global / num_replicas).
      seed: int; fixes the shuffling and every augmentation.
      start_step: first global batch to produce (resumption): batches equal those of an
        uninterrupted run from that step on.
      num_epochs: None for an endless dataset, else `floor(num_epochs * N / global_batch_size)`
        batches in all (a finite pass; batches always full).
      input_context: a `tf.distribute.InputContext` (see `pretrain_dataset_fn`); None gives
        global batches.
      pixel_stage: "pipeline" (TensorFlow backend), "device" (stop after crops + flips; apply
        `pixel_augment_views` in the training step), or "auto" (by backend).
      crop_mode: "auto", "batched" (interpolation matrices after `.batch()`, images of one
        static shape) or "per_element" (`tf.image.resize` per image).
      shuffle_buffer: block size of the per-epoch shuffle of "stream" sources.
    Returns:
      A `tf.data.Dataset` of `{"views": tuple of float32 [b, S, S, 3], "label": int32 [b]}`.
    Raises:
      ValueError: a global batch not divisible by the replica count, bad arguments.
    """
    _check_source(source)
    view_configs = resolve_views(views)
    g, replicas, pipelines, pipeline = _check_batch(global_batch_size, input_context)
    _check_steps(start_step, num_epochs)
    stage = _resolve_pixel_stage(pixel_stage)
    if crop_mode not in ("auto", "batched", "per_element"):
        raise ValueError(f"crop_mode must be 'auto', 'batched' or 'per_element', got {crop_mode!r}")
    per_replica = g // replicas
    end_step = _NO_END if num_epochs is None else int(num_epochs * source.num_examples) // g
    if num_epochs is not None and end_step == 0:
        raise ValueError(f"num_epochs={num_epochs} of {source.num_examples} examples is less "
                         f"than one global batch of {g}")
    base = _base_seed(seed)
    shuffle_seed, aug_seed = _fold(base, _SHUFFLE), _fold(base, _AUGMENT)
    n_views = len(view_configs)

    if source.random_access:
        ds = _positions(start_step, end_step, g, pipelines, pipeline)
        load = _random_access_loader(source, shuffle_seed)
        image_shape = load.image_shape
    else:
        ds = _stream_positions(source, shuffle_seed, shuffle_buffer, start_step * g)
        if end_step != _NO_END:
            ds = ds.take((end_step - start_step) * g)
        if pipelines > 1:
            ds = ds.filter(
                backend.without_autograph(lambda p, x, y: _mine(p, g, pipelines, pipeline)))
        load = lambda p, x, y: (p, _decode_stream_image(source, x), y)  # noqa: E731
        image_shape = _stream_image_shape(source)
    batched = _batched_crops_ok(image_shape, crop_mode)

    def per_element(*element):
        position, image, label = load(*element)
        u = tf.random.stateless_uniform([n_views, NC + NP], seed=_fold(aug_seed, position))
        if batched:
            return image, label, u
        crops = tuple(_crop_one(image, u[v, :NC], c.crop) for v, c in enumerate(view_configs))
        return crops, label, u

    def per_batch(images, label, u):
        out = []
        for v, config in enumerate(view_configs):
            if batched:
                x = _crop_batch(images, u[:, v, :NC], config.crop, planar=stage == "pipeline")
            else:
                x = images[v]
            if stage == "pipeline":
                params = _pixel.pixel_params_from_uniforms(u[:, v, NC:], config.pixel)
                if batched:
                    x = _pixel.apply_pixel_augment_planes(x, params, config.pixel)
                else:
                    x = _pixel.apply_pixel_augment(x, params, config.pixel)
            out.append(x)
        return {"views": tuple(out), "label": label}

    ds = ds.map(backend.without_autograph(per_element), num_parallel_calls=AUTOTUNE)
    ds = ds.batch(per_replica, drop_remainder=True, num_parallel_calls=AUTOTUNE)
    ds = ds.map(backend.without_autograph(per_batch), num_parallel_calls=AUTOTUNE)
    return _options(ds.prefetch(AUTOTUNE))


def pretrain_dataset_fn(source, views="cifar10", global_batch_size=256, seed=0, **kwargs):
    """`fn(input_context)` for `strategy.distribute_datasets_from_function`; kwargs as in
    `pretrain_dataset`. Checks divisibility once the context (replica count) is known."""
    _check_source(source)
    resolve_views(views)

    def dataset_fn(input_context):
        return pretrain_dataset(source, views, global_batch_size, seed,
                                input_context=input_context, **kwargs)

    return dataset_fn


def distribute_pretrain_dataset(strategy, source, views="cifar10", global_batch_size=256, seed=0,
                                **kwargs):
    """`strategy.distribute_datasets_from_function(pretrain_dataset_fn(...))`, with the
    replica-count check done up front (ValueError before any dataset is built)."""
    _check_batch(global_batch_size, tf.distribute.InputContext(
        num_input_pipelines=1, input_pipeline_id=0,
        num_replicas_in_sync=strategy.num_replicas_in_sync))
    return strategy.distribute_datasets_from_function(
        pretrain_dataset_fn(source, views, global_batch_size, seed, **kwargs)
    )


# ---------------------------------------------------------------------------------------------
# Evaluation.


def _centre_box(height, width, crop_fraction):
    side = tf.round(crop_fraction * tf.cast(tf.minimum(height, width), tf.float32))
    side = tf.maximum(side, 1.0)
    top = tf.floor((tf.cast(height, tf.float32) - side) / 2.0)
    left = tf.floor((tf.cast(width, tf.float32) - side) / 2.0)
    return top, left, side


def _centre_crop_one(image, config):
    shape = tf.shape(image)
    top, left, side = _centre_box(shape[0], shape[1], config.crop_fraction)
    box = [tf.cast(v, tf.int32) for v in (top, left, side)]
    window = tf.slice(image, [box[0], box[1], 0], [box[2], box[2], 3])
    out = tf.image.resize(window, (config.size, config.size), method="bicubic")
    out = out / 255.0 if image.dtype.is_integer else out
    return tf.clip_by_value(out, 0.0, 1.0)


def _centre_crop_batch(images, config):
    h, w = images.shape[1], images.shape[2]
    if h == w == config.size and config.crop_fraction == 1.0:
        return _float01(images)
    top, left, side = _centre_box(h, w, config.crop_fraction)
    b = tf.shape(images)[0]
    fill = lambda v: tf.fill([b], v)  # noqa: E731
    out = _crops.resized_crop(images, fill(top), fill(left), fill(side), fill(side), config.size,
                              xp=TF)
    return tf.clip_by_value(out, 0.0, 1.0)


def _load_in_order(source, input_context):
    if source.random_access:
        ds = tf.data.Dataset.range(source.num_examples)
        if input_context is not None and input_context.num_input_pipelines > 1:
            ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
        return ds.map(backend.without_autograph(source.lookup), num_parallel_calls=AUTOTUNE)
    ds = source.stream_dataset().take(source.num_examples)
    if input_context is not None and input_context.num_input_pipelines > 1:
        ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    return ds.map(backend.without_autograph(lambda x, y: (_decode_stream_image(source, x), y)),
                  num_parallel_calls=AUTOTUNE)


def eval_dataset(source, config="cifar10", batch_size=256, *, input_context=None):
    """Deterministic `(image, label)` batches for testing / feature extraction.

    Each image: centre square crop of side `crop_fraction * min(H, W)` resized (bicubic) to
    `config.size`, i.e. "resize the shorter side to size / crop_fraction, centre crop size";
    float32 in [0, 1]. Index order, no shuffling, the last batch kept even if smaller (no
    image dropped). With `input_context`, pipeline p of P takes every P-th image.

    Args:
      config: an `EvalConfig`, a preset name ("cifar10", "imagenet", "tinyimagenet"), or an int
        size (ImageNet protocol).
    """
    _check_source(source)
    config = resolve_eval(config)
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    ds = _load_in_order(source, input_context)
    image_spec = ds.element_spec[0].shape
    if _batched_crops_ok(image_spec, "auto"):
        ds = ds.batch(batch_size).map(
            backend.without_autograph(lambda x, y: (_centre_crop_batch(x, config), y)),
            num_parallel_calls=AUTOTUNE)
    else:
        ds = ds.map(backend.without_autograph(lambda x, y: (_centre_crop_one(x, config), y)),
                    num_parallel_calls=AUTOTUNE)
        ds = ds.batch(batch_size)
    return _options(ds.prefetch(AUTOTUNE))


def _pad_crop_one(image, u, config):
    """Zero-pad by `config.padding`, random `size` crop, flip; uniforms u `[3]`."""
    size, pad = config.size, config.padding
    shape = tf.shape(image)
    tf.debugging.assert_greater_equal(
        tf.minimum(shape[0], shape[1]), size,
        message=f"probe pad_crop: an image is smaller than the crop size {size}",
    )
    x = tf.pad(_float01(image), [[pad, pad], [pad, pad], [0, 0]])
    dy = tf.cast(tf.floor(u[0] * tf.cast(shape[0] + 2 * pad - size + 1, tf.float32)), tf.int32)
    dx = tf.cast(tf.floor(u[1] * tf.cast(shape[1] + 2 * pad - size + 1, tf.float32)), tf.int32)
    x = tf.slice(x, [dy, dx, 0], [size, size, 3])
    return tf.where(u[2] < 0.5, tf.reverse(x, axis=[1]), x)


def probe_train_dataset(source, config="cifar10", batch_size=256, seed=0, *, start_step=0,
                        num_epochs=None, shuffle_buffer=10_000):
    """Randomly augmented `(image, label)` batches for training a linear probe / fine-tuning.

    `config.probe_mode`: "pad_crop" (zero padding + random crop + flip; an image smaller than
    `size` is an error) or "resized_crop" (area U[0.08, 1] + flip). Shuffled per epoch and
    resumable like `pretrain_dataset`; with `num_epochs`, every image is seen exactly that many
    times (the last batch may be smaller).
    """
    _check_source(source)
    config = resolve_eval(config)
    _check_steps(start_step, num_epochs)
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if config.probe_mode == "pad_crop" and source.image_shape is not None:
        h, w = source.image_shape[:2]
        if min(h, w) < config.size:
            raise ValueError(f"{source.name}: images of {h}x{w} are smaller than the probe crop "
                             f"size {config.size} (pad_crop needs images at least that large)")
    base = _base_seed(seed)
    shuffle_seed, aug_seed = _fold(base, _SHUFFLE), _fold(base, _AUGMENT)
    first = start_step * batch_size
    end = _NO_END if num_epochs is None else int(num_epochs * source.num_examples)
    if source.random_access:
        ds = tf.data.Dataset.range(first, end)
        load = _random_access_loader(source, shuffle_seed)
    else:
        ds = _stream_positions(source, shuffle_seed, shuffle_buffer, first)
        if end != _NO_END:
            ds = ds.take(end - first)
        load = lambda p, x, y: (p, _decode_stream_image(source, x), y)  # noqa: E731
    crop = CropConfig(config.size)

    def transform(*element):
        position, image, label = load(*element)
        u = tf.random.stateless_uniform([NC], seed=_fold(aug_seed, position))
        if config.probe_mode == "pad_crop":
            return _pad_crop_one(image, u[:3], config), label
        return _crop_one(image, u, crop), label

    ds = ds.map(backend.without_autograph(transform), num_parallel_calls=AUTOTUNE).batch(batch_size)
    return _options(ds.prefetch(AUTOTUNE))
