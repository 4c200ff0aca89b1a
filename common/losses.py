"""Pixel-wise softmax cross-entropy with an ignore label, class weights and the papers'
normalisations.

FCN (Long et al. 2015) trains on the unnormalised sum of pixel losses; SegNet (Badrinarayanan et
al. 2017) and Caffe's SoftmaxWithLoss divide by the number of labelled pixels; PyTorch's
`CrossEntropyLoss(weight=..., ignore_index=...)`, used by later reimplementations, divides by the
sum of the pixels' class weights. One loss covers all three through `normalization`.
"""

import keras

from segpapers.common.backends import on_tensorflow
from segpapers.common.layers import PACKAGE

NORMALIZATIONS = ("valid", "weights", "none")


def _sum_over_replicas(value):
    """`value` summed over the tf.distribute replicas training in sync (itself elsewhere)."""
    if not on_tensorflow():
        return value
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return value
    return context.all_reduce(tf.distribute.ReduceOp.SUM, value)


@keras.saving.register_keras_serializable(package=PACKAGE)
class SegmentationCrossEntropy(keras.losses.Loss):
    """Softmax cross-entropy from logits `[B, H, W, K]` against int labels `[B, H, W]` (or `[B, H,
    W, 1]`).

    Pixels equal to `ignore_label` contribute nothing to the loss or its gradient.
    `class_weights` (K floats) weight each pixel by its true class. They live here because
    Keras' `fit(class_weight=...)` assumes one label per sample: for `[B, H, W]` targets it
    would argmax over the width axis and weight whole images.

    `normalization` divides the batch's sum of weighted pixel losses by:
    - `"valid"`: the number of labelled pixels (Caffe SoftmaxWithLoss VALID, SegNet);
    - `"weights"`: the sum of the labelled pixels' class weights (PyTorch mean semantics);
    - `"none"`: nothing (FCN's unnormalised loss).
    A batch with no labelled pixel has loss 0. A per-pixel `sample_weight` `[B, H, W]` (U-Net's
    eq. 2 map, passed by `fit` from the batches) multiplies each pixel's loss after that division:
    with "valid", the batch loss is sum(weight x loss) / labelled pixels.

    The loss uses Keras' "sum" reduction and `call` returns each pixel's loss already divided by
    the batch normaliser, so the reduction yields exactly these batch-level semantics. Under
    tf.distribute, where the replicas' gradients are summed, the normaliser is summed over the
    replicas, so the step is the one the whole batch would give on one device.
    Computation is float32 even for bfloat16/float16 logits under mixed precision.
    """

    def __init__(
        self,
        num_classes=None,
        class_weights=None,
        ignore_label=255,
        normalization="valid",
        name="segmentation_cross_entropy",
    ):
        if normalization not in NORMALIZATIONS:
            raise ValueError(
                f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}"
            )
        if class_weights is not None:
            class_weights = [float(w) for w in class_weights]
            if num_classes is not None and len(class_weights) != num_classes:
                raise ValueError(
                    f"{len(class_weights)} class weights given for {num_classes} classes"
                )
        super().__init__(name=name, reduction="sum", dtype="float32")
        self.num_classes = num_classes
        self.class_weights = class_weights
        self.ignore_label = ignore_label
        self.normalization = normalization

    def call(self, y_true, y_pred):
        ops = keras.ops
        logits = ops.cast(y_pred, "float32")
        labels = ops.convert_to_tensor(y_true)
        if len(labels.shape) == len(logits.shape):
            labels = ops.squeeze(labels, axis=-1)
        labels = ops.cast(labels, "int32")
        labelled = ops.not_equal(labels, self.ignore_label)
        # ignore_label is outside 0..K-1: gather with a valid index, then zero those pixels out
        # by multiplication so their gradient is exactly 0 rather than NaN.
        safe_labels = ops.where(labelled, labels, 0)
        # -log softmax at the label, as a product with one-hot labels (two cheap passes over the
        # logits rather than TF's sparse softmax cross-entropy kernel).
        num_classes = logits.shape[-1]
        pixel_loss = -ops.sum(ops.log_softmax(logits, axis=-1) * ops.one_hot(safe_labels, num_classes), axis=-1)
        pixel_weights = ops.cast(labelled, "float32")
        if self.class_weights is not None:
            pixel_weights *= ops.take(ops.convert_to_tensor(self.class_weights), safe_labels)
        weighted_loss = pixel_loss * pixel_weights
        if self.normalization == "valid":
            return ops.divide_no_nan(weighted_loss, _sum_over_replicas(ops.sum(ops.cast(labelled, "float32"))))
        if self.normalization == "weights":
            return ops.divide_no_nan(weighted_loss, _sum_over_replicas(ops.sum(pixel_weights)))
        return weighted_loss

    def get_config(self):
        return {
            "name": self.name,
            "num_classes": self.num_classes,
            "class_weights": self.class_weights,
            "ignore_label": self.ignore_label,
            "normalization": self.normalization,
        }
