"""Pieces of the training loop that follow a `Schedule`: optimizer, learning-rate policy, weight
decay and the callbacks that make long runs safe (resume, checkpoints, logs, NaN stop)."""
import contextlib
import functools
import math
import os
import shutil
import time
from pathlib import Path

import keras
import numpy as np

from segpapers.common import backends, metrics, results
from segpapers.common.console import has_gpu
from segpapers.common.machine_load import OtherLoad


@contextlib.contextmanager
def global_dtype_policy(name):
    """Builds models under Keras dtype policy `name` (e.g. mixed_bfloat16), restoring the previous one."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


NO_BFLOAT16_UNITS = ("a CPU without bfloat16 units (AVX512-BF16/AMX), and no GPU, emulates bfloat16, far slower "
                     "than float32")


def machine_precision(schedule, asked=False):
    """(the dtype policy a run of `schedule` trains in here, why it is not the schedule's or None).

    A schedule's mixed_bfloat16 is a speed choice (adopted after an A/B showed float32's curves) that
    holds only where bfloat16 is computed natively: on a CPU-only machine whose CPU lacks bfloat16
    units it falls back to float32, the papers' own precision, unless `asked` (the command line set it).
    """
    precision = schedule.precision
    if precision == "mixed_bfloat16" and not asked and backends.emulates_bfloat16():
        return "float32", NO_BFLOAT16_UNITS
    return precision, None


DISTRIBUTIONS = ("none", "mirrored", "multi-worker")  # train.py --distribute
# Keras' own variables naming the workers to `keras.distribution.initialize`.
MULTI_WORKER_VARIABLES = ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES",
                          "KERAS_DISTRIBUTION_PROCESS_ID")


def start_multi_worker(global_batch_size):
    """Joins the workers that MULTI_WORKER_VARIABLES name (the coordinator's address, how many workers,
    this one's index) and sets Keras' data-parallel distribution: every global batch is split across
    the workers' devices and the gradients are all-reduced, so all workers hold the same weights.
    Returns this worker's index; worker 0 is the chief. Call it before anything computes.

    Keras' distribution API on JAX: Keras 3's TensorFlow trainer fails in `fit` under
    `tf.distribute.MultiWorkerMirroredStrategy` (keras-team/keras#20585, reproduced with Keras 3.15).
    """
    from segpapers.common.errors import UserError
    if keras.backend.backend() != "jax":
        raise UserError("--distribute multi-worker runs on Keras' JAX backend (KERAS_BACKEND=jax): Keras 3's "
                        "TensorFlow trainer fails under MultiWorkerMirroredStrategy (keras-team/keras#20585)")
    missing = [name for name in MULTI_WORKER_VARIABLES if name not in os.environ]
    if missing:
        raise UserError(f"--distribute multi-worker needs {', '.join(missing)} set on every worker (README, "
                        "Keras backends)")
    import jax
    if keras.distribution.distribution() is None:  # once per process: a staged run starts it per stage
        jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU workers' all-reduce (GPUs: NCCL)
        keras.distribution.initialize()
        keras.distribution.set_distribution(keras.distribution.DataParallel())
    if global_batch_size % jax.device_count():
        raise UserError(f"batch size {global_batch_size} does not split evenly over the workers' "
                        f"{jax.device_count()} devices")
    return jax.process_index()


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
    return keras.optimizers.Adam(lr, epsilon=schedule.adam_epsilon)


def compile_for_training(model, schedule, loss, steps_per_epoch, jit_compile="auto"):
    """Compiles `model` as train.py trains it: the schedule's optimizer, learning-rate policy and
    coupled weight decay, `loss` (times the batches' per-pixel weights, if they carry any), and
    streaming pixel accuracy and mIoU. `jit_compile`: Keras' (XLA where there is an accelerator);
    benchmarks.speed also times XLA on CPU."""
    apply_weight_decay(model, schedule.weight_decay, schedule.decayed)
    model.compile(optimizer=make_optimizer(schedule, steps_per_epoch), loss=loss, jit_compile=jit_compile,
                  metrics=[metrics.ConfusionMatrixMetric(loss.num_classes, score, loss.ignore_label,
                                                         ignore_sample_weight=True)  # they weight the loss only
                           for score in ("pixel_accuracy", "miou")])


def apply_weight_decay(model, weight_decay, decayed=("kernel",)):
    """Caffe/Torch-style weight decay: adds weight_decay * w to the gradient of the parameters of the
    kinds in `decayed` (common.schedule.DECAY_KINDS: kernel, bias, batch_norm, prelu).

    Keras' optimizer `weight_decay` is decoupled (AdamW-style), which is not what the papers used;
    an L2 penalty of weight_decay / 2 * ||w||^2 has exactly the coupled gradient.
    """
    if not weight_decay:
        return
    penalty = keras.regularizers.L2(weight_decay / 2)
    for layer in model.layers:
        for variable in layer.trainable_weights:
            if parameter_kind(layer, variable) in decayed:
                variable.regularizer = penalty


def parameter_kind(layer, variable):
    """Which of common.schedule.DECAY_KINDS a trainable variable of `layer` is."""
    if isinstance(layer, keras.layers.BatchNormalization):
        return "batch_norm"
    if isinstance(layer, keras.layers.PReLU):
        return "prelu"
    return "bias" if variable.name == "bias" else "kernel"


def recompute_batch_norm_statistics(model, batches):
    """Sets every batch-norm layer's statistics to their average over `batches` (images first) at the
    model's current weights, as SegNet-Tutorial's Scripts/compute_bn_statistics.py does before any
    evaluation: each batch's mean and variance are taken in training mode (every layer normalised by
    its batch, as the network trained), averaged over the batches, and the variance corrected by
    m / (m - 1) for the m values per channel. Dropout runs in training mode too (Keras has one switch
    for both); SegNet's models have none. Returns the number of batches."""
    # A frozen layer keeps its statistics (Keras updates them only in trainable layers).
    layers = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable]
    momenta = [layer.momentum for layer in layers]
    sums = [[np.zeros(layer.moving_mean.shape), np.zeros(layer.moving_variance.shape)] for layer in layers]
    count, batch_size = 0, None
    try:
        for layer in layers:
            layer.momentum = 0.0  # the moving statistics become the batch's own
        for batch in batches:
            model(batch[0], training=True)
            count, batch_size = count + 1, batch_size or int(batch[0].shape[0])
            for (mean_sum, variance_sum), layer in zip(sums, layers):
                mean_sum += np.asarray(layer.moving_mean)
                variance_sum += np.asarray(layer.moving_variance)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    if not count:
        raise ValueError("no batches to recompute the batch-norm statistics from")
    for layer, (mean_sum, variance_sum) in zip(layers, sums):
        m = batch_size * np.prod(layer.input.shape[1:]) / layer.input.shape[layer.axis]  # values per channel
        layer.moving_mean.assign(mean_sum / count)
        layer.moving_variance.assign(variance_sum / count * m / (m - 1))
    return count


class BatchNormStatistics(keras.callbacks.Callback):
    """Recomputes the batch-norm statistics over `batches` before every validation inside `fit`
    (`recompute_batch_norm_statistics`), so that validation, and the checkpoint selected by it, use
    the statistics the paper evaluates with; with `every_epoch` (no validation split) at the end of
    every epoch instead, before the checkpoint callbacks save it."""

    def __init__(self, batches, every_epoch=False):
        super().__init__()
        self.batches, self.every_epoch = batches, every_epoch

    def on_test_begin(self, logs=None):
        recompute_batch_norm_statistics(self.model, self.batches)

    def on_epoch_end(self, epoch, logs=None):
        if self.every_epoch:
            recompute_batch_norm_statistics(self.model, self.batches)


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
    """Keeps the training time summed over every sitting of a resumed run, up to the last epoch, and
    stops the training once it passes `budget_s` (None: no limit). Each sitting is also listed with
    its epochs, seconds, dtype policy and CPU, since a run resumed on another machine mixes their speeds,
    and the share of the CPUs the rest of the machine took meanwhile (common.machine_load), since a
    sitting that shared them trained slower."""

    def __init__(self, path, budget_s=None):
        super().__init__()
        self.path, self.budget_s = Path(path), budget_s

    def on_train_begin(self, logs=None):
        recorded = results.read_json(self.path) if self.path.exists() else {"seconds": 0.0}
        self.previous, self.sittings = recorded["seconds"], recorded.get("sittings", [])
        self.sitting = None
        self.start, self.load = time.perf_counter(), OtherLoad()

    def on_epoch_begin(self, epoch, logs=None):
        if self.sitting is None:
            self.sitting = {"first_epoch": epoch + 1, "last_epoch": epoch + 1, "seconds": 0.0,
                            "precision": keras.mixed_precision.global_policy().name, "cpu": backends.cpu(),
                            "gpu": has_gpu()}
            # An epoch an earlier sitting logged but did not back up (killed in between) is trained again here.
            earlier = [{**sitting, "last_epoch": min(sitting["last_epoch"], epoch)} for sitting in self.sittings]
            self.sittings = [sitting for sitting in earlier if sitting["first_epoch"] <= epoch] + [self.sitting]

    def on_epoch_end(self, epoch, logs=None):
        self.on_epoch_begin(epoch)  # a no-op after fit's own call
        elapsed = time.perf_counter() - self.start
        self.sitting.update(last_epoch=epoch + 1, seconds=round(elapsed, 1))
        if (load := self.load.result()) is not None:
            self.sitting["other_cpu_share"] = load["other_cpu_share"]
        seconds = self.previous + elapsed
        results.write_json(self.path, {"seconds": seconds, "sittings": self.sittings})
        if self.budget_s is not None and seconds >= self.budget_s:
            self.model.stop_training = True
            print(f"stopping after epoch {epoch + 1}: {seconds / 3600:.2f} h of training reach the budget of "
                  f"{self.budget_s / 3600:.2f} h")


def save_model_atomically(model, path):
    """Saves to a temporary file and renames it: a kill never leaves half a checkpoint."""
    _write_atomically(model.save, path)


def copy_atomically(source, path):
    """Copies the file `source` to `path` as `save_model_atomically` writes it."""
    _write_atomically(functools.partial(shutil.copyfile, source), path)


def _write_atomically(write, path):
    path = Path(path)
    temporary = path.with_name(f".{path.stem}.tmp{path.suffix}")
    write(temporary)
    os.replace(temporary, path)


class SelectedCheckpoint(keras.callbacks.Callback):
    """Keeps the checkpoint a schedule's selection rule picks: the last epoch's, or the best one by a
    validation metric (higher is better), written atomically. The best value so far is kept in
    `<checkpoint>.json`, so a resumed run selects as an uninterrupted one would. With `patience`,
    training stops once the best epoch is `patience` epochs old."""

    def __init__(self, path, monitor="last", patience=None):
        super().__init__()
        self.path, self.monitor, self.patience = Path(path), monitor, patience
        self.record = self.path.with_name(self.path.name + ".json")
        saved = results.read_json(self.record) if self.record.exists() else {}
        self.best, self.best_epoch = saved.get("best", -math.inf), saved.get("epoch", 0)

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor != "last":
            value = (logs or {}).get(self.monitor)
            if value is None or not value > self.best:
                self._stop_if_stale(epoch + 1)
                return
            self.best = float(value)
        self.best_epoch = epoch + 1
        save_model_atomically(self.model, self.path)
        results.write_json(self.record, {"monitor": self.monitor, "best": self.best, "epoch": epoch + 1})

    def _stop_if_stale(self, epochs_done):
        if self.patience is not None and epochs_done - self.best_epoch >= self.patience:
            self.model.stop_training = True
            print(f"stopping after epoch {epochs_done}: {self.monitor} has not improved on {self.best:.4f} "
                  f"(epoch {self.best_epoch}) for {self.patience} epochs")
