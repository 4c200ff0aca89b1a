"""Pieces of the training loop that follow a `Schedule`: optimizer, learning-rate policy, weight
decay and the callbacks that make long runs safe (resume, checkpoints, logs, NaN stop)."""
import contextlib
import math
import os
import time
from pathlib import Path

import keras
import numpy as np

from common import metrics, results


@contextlib.contextmanager
def global_dtype_policy(name):
    """Builds models under Keras dtype policy `name` (e.g. mixed_bfloat16), restoring the previous one."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def learning_rate(schedule, steps_per_epoch):
    """The schedule's learning-rate policy as a Keras schedule over optimizer steps."""
    if schedule.lr_policy == "fixed":
        return schedule.learning_rate
    if schedule.lr_policy == "step":
        return keras.optimizers.schedules.ExponentialDecay(
            schedule.learning_rate, decay_steps=schedule.lr_step_epochs * steps_per_epoch,
            decay_rate=schedule.lr_gamma, staircase=True)
    return keras.optimizers.schedules.PolynomialDecay(
        schedule.learning_rate, decay_steps=schedule.epochs * steps_per_epoch, end_learning_rate=0.0,
        power=schedule.lr_power)


def make_optimizer(schedule, steps_per_epoch):
    lr = learning_rate(schedule, steps_per_epoch)
    if schedule.optimizer == "sgd":
        return keras.optimizers.SGD(lr, momentum=schedule.momentum)
    return keras.optimizers.Adam(lr)


def compile_for_training(model, schedule, loss, steps_per_epoch, jit_compile="auto"):
    """Compiles `model` as train.py trains it: the schedule's optimizer, learning-rate policy and
    coupled weight decay, `loss` (times the batches' per-pixel weights, if they carry any), and
    streaming pixel accuracy and mIoU. `jit_compile`: Keras' (XLA where there is an accelerator);
    benchmarks.speed also times XLA on CPU."""
    apply_weight_decay(model, schedule.weight_decay)
    model.compile(optimizer=make_optimizer(schedule, steps_per_epoch), loss=loss, jit_compile=jit_compile,
                  metrics=[metrics.ConfusionMatrixMetric(loss.num_classes, score, loss.ignore_label,
                                                         ignore_sample_weight=True)  # they weight the loss only
                           for score in ("pixel_accuracy", "miou")])


def apply_weight_decay(model, weight_decay):
    """Caffe/Torch-style weight decay: adds weight_decay * w to the gradient of every kernel.

    Keras' optimizer `weight_decay` is decoupled (AdamW-style), which is not what the papers used;
    an L2 penalty of weight_decay / 2 * ||w||^2 has exactly the coupled gradient. Biases and batch
    norm parameters are not decayed (Caffe's decay_mult 0 for biases).
    """
    if not weight_decay:
        return
    penalty = keras.regularizers.L2(weight_decay / 2)
    for layer in model.layers:
        kernel = getattr(layer, "kernel", None)
        if kernel is not None and kernel.trainable:
            kernel.regularizer = penalty


class NonFiniteLoss(RuntimeError):
    """Raised out of `fit`, so that no later callback saves the broken weights or clears the backup."""


class StopOnNaN(keras.callbacks.Callback):
    """Stops training at the first non-finite loss, saying where, by raising `NonFiniteLoss`."""

    def __init__(self):
        super().__init__()
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(np.asarray(loss))):
            raise NonFiniteLoss(f"loss became {float(np.asarray(loss))} at epoch {self.epoch + 1}, batch {batch}; "
                                "the last completed epoch is kept for resuming: try a lower --learning-rate, check "
                                "the labels' class range and the class weights")


def transfer_weights(source, target):
    """Copies the weights of every layer `target` shares with `source` by name and shape.

    Multi-stage schedules (ENet's encoder, then the whole network) hand over their weights this
    way. Returns the names of the layers copied.
    """
    copied = []
    source_layers = {layer.name: layer for layer in source.layers}
    for layer in target.layers:
        match = source_layers.get(layer.name)
        if match is None or not layer.weights:
            continue
        weights = match.get_weights()
        if [w.shape for w in weights] == [tuple(v.shape) for v in layer.weights]:
            layer.set_weights(weights)
            copied.append(layer.name)
    return copied


class TrainingClock(keras.callbacks.Callback):
    """Keeps the training time summed over every sitting of a resumed run, up to the last epoch."""

    def __init__(self, path):
        super().__init__()
        self.path = Path(path)

    def on_train_begin(self, logs=None):
        self.previous = results.read_json(self.path)["seconds"] if self.path.exists() else 0.0
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        results.write_json(self.path, {"seconds": self.previous + time.perf_counter() - self.start})


def save_model_atomically(model, path):
    """Saves to a temporary file and renames it: a kill never leaves half a checkpoint."""
    path = Path(path)
    temporary = path.with_name(f".{path.stem}.tmp{path.suffix}")
    model.save(temporary)
    os.replace(temporary, path)


class SelectedCheckpoint(keras.callbacks.Callback):
    """Keeps the checkpoint a schedule's selection rule picks: the last epoch's, or the best one by a
    validation metric (higher is better), written atomically. The best value so far is kept in
    `<checkpoint>.json`, so a resumed run selects as an uninterrupted one would."""

    def __init__(self, path, monitor="last"):
        super().__init__()
        self.path, self.monitor = Path(path), monitor
        self.record = self.path.with_name(self.path.name + ".json")
        self.best = results.read_json(self.record)["best"] if self.record.exists() else -math.inf

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor != "last":
            value = (logs or {}).get(self.monitor)
            if value is None or not value > self.best:
                return
            self.best = float(value)
        save_model_atomically(self.model, self.path)
        results.write_json(self.record, {"monitor": self.monitor, "best": self.best, "epoch": epoch + 1})
