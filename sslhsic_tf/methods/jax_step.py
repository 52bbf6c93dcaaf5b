"""The JAX-backend train step: `SSLModel`'s step run statelessly.

Keras' JAX trainer jits `train_step(state, data)` with
`state = (trainable, non_trainable, optimizer, metrics)` variable values. This runs the model's
public step methods in the order of `tf_step.py` (`unpack_batch`, `step_seed`, `prepare_step`,
`step_losses`, `finish_step`, `update_trackers`) inside
`keras.StatelessScope`s that map every variable to its value in `state` and collect the
assignments (BatchNorm statistics, EMA targets, metrics), so the method logic is written once:

1. prepare (no gradient): the step seed from the optimizer's step counter, on-device pixel
   augmentation, the target network's outputs (its BatchNorm statistics move);
2. one `jax.grad` of the scaled total loss w.r.t. the trainable values (the online BatchNorm
   statistics come back as auxiliary output);
3. `optimizer.stateless_apply` (the `PartitionedOptimizer` and its sub-optimizers, clipping and
   loss scaling included), then `finish_step(outputs)` (EMA pairs, `after_apply`) and the
   metrics.

Under `keras.distribution.DataParallel` the batch is one global array sharded over the devices
and the variables are replicated: objectives and BatchNorm see the global batch, no gather is
needed, and XLA inserts the collectives. tests/jax_backend pins this step to the TensorFlow step
(same weights after two steps for every method), one device to two, and `.keras` files across
the backends.
"""

import jax
import keras

from sslhsic_tf.utils import backend


def _mapping(model, trainable, non_trainable, optimizer_values, metric_values=None):
    pairs = list(zip(model.trainable_variables, trainable))
    pairs += list(zip(model.non_trainable_variables, non_trainable))
    pairs += list(zip(model.optimizer.variables, optimizer_values))
    if metric_values is not None:
        pairs += list(zip(model.metrics_variables, metric_values))
    return pairs


def _collect(scope, variables, old_values):
    out = []
    for v, old in zip(variables, old_values):
        new = scope.get_current_value(v)
        out.append(old if new is None else new)
    return out


def train_step(model, state, data):
    trainable, non_trainable, optimizer_values, metric_values = state
    views, label = model.unpack_batch(data)

    # 1. Prepare without gradient (device augmentation, target network forward).
    with keras.StatelessScope(
        state_mapping=_mapping(model, trainable, non_trainable, optimizer_values)
    ) as scope:
        seed = model.step_seed()
        views, constants = model.prepare_step(views, seed)
    non_trainable = _collect(scope, model.non_trainable_variables, non_trainable)
    constants = jax.lax.stop_gradient(constants)

    # 2. One gradient of the scaled total loss.
    def loss_fn(trainable_values, non_trainable_values):
        with keras.StatelessScope(
            state_mapping=_mapping(model, trainable_values, non_trainable_values, optimizer_values)
        ) as inner:
            loss, terms, outputs = model.step_losses(views, label, constants, seed)
            loss = model.optimizer.scale_loss(loss)
        new_nt = _collect(inner, model.non_trainable_variables, non_trainable_values)
        return loss, (terms, outputs, new_nt)

    grads, (terms, outputs, non_trainable) = jax.grad(loss_fn, has_aux=True)(
        trainable, non_trainable)
    outputs = jax.lax.stop_gradient(outputs)
    if model.log_norms:  # of the weights the gradient was taken at
        with keras.StatelessScope(
            state_mapping=_mapping(model, trainable, non_trainable, optimizer_values)
        ):
            scale, _ = backend.unwrap_loss_scale(model.optimizer)
            terms = {**terms, **model.norm_terms(grads, trainable, scale)}

    # 3. Apply, then EMA updates and metrics.
    trainable, optimizer_values = model.optimizer.stateless_apply(
        optimizer_values, grads, trainable
    )
    with keras.StatelessScope(
        state_mapping=_mapping(model, trainable, non_trainable, optimizer_values, metric_values)
    ) as scope:
        model.finish_step(outputs)
        logs = model.update_trackers(terms)
    # finish_step may assign trainable variables too (e.g. SwAV re-normalises its prototypes).
    trainable = _collect(scope, model.trainable_variables, trainable)
    non_trainable = _collect(scope, model.non_trainable_variables, non_trainable)
    metric_values = _collect(scope, model.metrics_variables, metric_values)
    return logs, (trainable, non_trainable, optimizer_values, metric_values)
