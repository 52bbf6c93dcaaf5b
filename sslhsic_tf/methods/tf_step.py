"""The TensorFlow-backend train step of `SSLModel`, beside `jax_step.py`.

Both steps call the same public step methods of the model, in the same order:

1. `unpack_batch(data)` -> views, label (checked; here also the in-graph pixel-range and
   label-range assertions, which need TensorFlow);
2. `prepare_step(views, seed)` -> views (pixel augmentation on the device, if any) and the
   method's constants (target-network outputs), without gradient;
3. `step_losses(views, label, constants, seed)` -> the loss to differentiate, the logged terms,
   the head outputs (one gradient tape);
4. the optimizer's apply (gradients clipped per sub-optimizer on the global gradient), then
   `finish_step(outputs)` (EMA pairs, the method's `after_apply`) and `update_trackers(terms)`.
"""

import tensorflow as tf
from keras import ops

from sslhsic_tf import distribute
from sslhsic_tf.utils import backend


def check_pixel_range(views):
    """Views must be in [0, 1]: 0-255 floats stop the step with the fix."""
    checks = [
        tf.debugging.assert_less_equal(
            tf.reduce_max(tf.cast(v, tf.float32)), tf.constant(1.0 + 1e-3), message=(
                f"views[{p}] must be float RGB in [0, 1]; got values above 1 (0-255 "
                "floats? divide by 255, or pass uint8 images to sslhsic_tf.data pipelines)"))
        for p, v in enumerate(views)
    ]
    with tf.control_dependencies(checks):
        return tuple(tf.identity(v) for v in views)


def check_label_range(views, label, num_classes):
    """The step fails before anything is computed or applied when a label lies outside
    [-1, num_classes) (out-of-range labels otherwise give NaN on GPUs or a wrong probe loss).
    The pretraining loop checks its sources up front; this catches streams and fit() on user
    data. Under XLA, assertions are no-ops."""
    label = tf.cast(label, tf.int64)
    checks = [
        tf.debugging.assert_less(label, tf.constant(num_classes, tf.int64), message=(
            f"online probe: labels must be < num_classes={num_classes} (or -1 for "
            "unlabelled); check the data's labels")),
        tf.debugging.assert_greater_equal(label, tf.constant(-1, tf.int64), message=(
            "online probe: labels must be >= -1 (-1 = unlabelled)")),
    ]
    with tf.control_dependencies(checks):
        return tuple(tf.identity(v) for v in views)


def clipping_groups(optimizer, variables):
    """(positions, clip function) per sub-optimizer that clips (`distribute.clip_global_gradients`)."""
    scale, inner = backend.unwrap_loss_scale(optimizer)
    groups = []
    for name, sub in inner.partition_optimizers.items():
        if not (sub.clipnorm or sub.global_clipnorm or sub.clipvalue):
            continue
        indices = [i for i, v in enumerate(variables) if inner.partition_of(v) == name]

        def clip(gs, sub=sub):
            if scale is None:
                return backend.clip_gradients(sub, gs)
            s = ops.cast(scale, gs[0].dtype)
            return [g * s for g in backend.clip_gradients(sub, [g / s for g in gs])]

        groups.append((indices, clip))
    return groups


def train_step(model, data):
    views, label = model.unpack_batch(data)
    views = check_pixel_range(views)
    if label is not None and model.probe is not None:
        views = check_label_range(views, label, model.num_classes)
    seed = model.step_seed()
    views, constants = model.prepare_step(views, seed)
    constants = tf.nest.map_structure(tf.stop_gradient, constants)
    variables = model.trainable_variables
    with tf.GradientTape() as tape:
        loss, terms, outputs = model.step_losses(views, label, constants, seed)
        scaled = model.optimizer.scale_loss(loss)
    grads = tape.gradient(scaled, variables)
    if model.log_norms:  # before the update, of the global gradient (one more all-reduce)
        scale, _ = backend.unwrap_loss_scale(model.optimizer)
        terms.update(model.norm_terms(distribute.sum_over_replicas(grads), variables, scale))
    grads = distribute.clip_global_gradients(grads, clipping_groups(model.optimizer, variables))
    model.optimizer.apply(grads, variables)
    model.finish_step(tf.nest.map_structure(tf.stop_gradient, outputs))
    logs = model.update_trackers(terms)
    if backend.in_multi_worker_mode(tf.distribute.get_strategy()):
        # Keras reduces step outputs with strategy.reduce("MEAN", v, axis=0) under
        # MultiWorkerMirroredStrategy, which fails on scalars; as [1] vectors they reduce to
        # the (identical on every replica) global values.
        logs = {k: ops.reshape(v, (1,)) for k, v in logs.items()}
    return logs
