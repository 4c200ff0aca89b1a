"""Segmentation scores from a confusion matrix, as reported by FCN, SegNet and ENet.

The scores follow the FCN reference `score.py` (Long et al. 2015, sec. 5): pixel accuracy, mean
(per-class) accuracy, mean IoU and frequency-weighted IoU. `confusion_matrix` and
`segmentation_scores` work on numpy arrays for offline evaluation; `ConfusionMatrixMetric`
accumulates the same matrix inside `model.fit` / `model.evaluate`.
"""

import math

import keras
import numpy as np

from segpapers.common.layers import PACKAGE

SCORES = ("pixel_accuracy", "mean_accuracy", "miou", "fwiou")


def confusion_matrix(y_true, y_pred, num_classes, ignore_label=255):
    """K x K int64 counts: rows are ground-truth classes, columns predicted classes.

    Pixels whose `y_true` equals `ignore_label` are skipped. Any other `y_true` value, or any
    `y_pred` value, outside 0..num_classes-1 raises ValueError: a wrong label map must not
    quietly shrink the evaluated set.
    """
    y_true = np.asarray(y_true).ravel().astype(np.int64)
    y_pred = np.asarray(y_pred).ravel().astype(np.int64)
    if y_true.size != y_pred.size:
        raise ValueError(f"y_true has {y_true.size} pixels but y_pred has {y_pred.size}")
    labelled = y_true != ignore_label
    # Predictions are checked everywhere: an out-of-range one is a bug even at an ignored pixel.
    for name, values in (("y_true", y_true[labelled]), ("y_pred", y_pred)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            bad = np.unique(values[(values < 0) | (values >= num_classes)])
            raise ValueError(
                f"{name} has values {bad.tolist()} outside 0..{num_classes - 1} "
                f"(ignore_label={ignore_label})"
            )
    index = y_true[labelled] * num_classes + y_pred[labelled]
    counts = np.bincount(index, minlength=num_classes**2)
    return counts.reshape(num_classes, num_classes).astype(np.int64)


def regions(label, boundary_class, ignore_label=255):
    """The 4-connected regions of the pixels that are neither boundary nor ignored, numbered 1..n (0 elsewhere)."""
    from scipy import ndimage

    return ndimage.label((label != boundary_class) & (label != ignore_label))[0]


def rand_error(label, predicted, boundary_class, ignore_label=255):
    """The adapted Rand error of one image (skimage.metrics.adapted_rand_error's convention), not the 2012
    challenge's: the predicted boundary pixels inside true objects form one region of their own, so an
    over-thick membrane scores as a merge. The challenge's scores are `common.isbi`'s.

    Objects are the connected regions between boundaries in the ground truth and in the prediction
    (`regions`); over the pixels inside ground-truth objects, with n_ij pixels in true object i and
    predicted region j (j = 0: predicted boundary), V_rand = 2 sum n_ij^2 / (sum_i a_i^2 + sum_j b_j^2),
    the F-score of pixel pairs placed together (as skimage.metrics.adapted_rand_error).
    """
    true_regions = regions(label, boundary_class, ignore_label)
    inside = true_regions > 0
    if not inside.any():
        return math.nan
    true = true_regions[inside].astype(np.int64)
    pred = regions(predicted, boundary_class, ignore_label)[inside].astype(np.int64)
    joint = np.unique(true * (pred.max() + 1) + pred, return_counts=True)[1].astype(np.float64)
    true_sizes, pred_sizes = np.bincount(true).astype(np.float64), np.bincount(pred).astype(np.float64)
    return 1.0 - 2.0 * np.sum(joint ** 2) / (np.sum(true_sizes ** 2) + np.sum(pred_sizes ** 2))


def boundary_scores(cm, boundary_class, rand_errors):
    """ISBI-style scores of boundary detection: pixel error, the boundary class's IoU, mean Rand error."""
    scores = segmentation_scores(cm)
    return {"pixel_error": 1.0 - scores["pixel_accuracy"], "foreground_iou": scores["iou"][boundary_class],
            "rand_error": _mean(np.asarray(rand_errors, dtype=np.float64))}


def _mean(values):
    """Mean over the non-NaN entries; NaN (without numpy's empty-slice warning) if none."""
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else math.nan


def segmentation_scores(cm):
    """Scores of a confusion matrix (rows ground truth, columns prediction), all in 0..1.

    Returns a dict with `pixel_accuracy`, `mean_accuracy`, `per_class_accuracy`, `iou`, `miou`
    and `fwiou`. A class absent from both ground truth and prediction has a NaN IoU and is
    excluded from `miou` (as `np.nanmean` does in the FCN reference); a class that is only
    predicted has IoU 0 and counts. `mean_accuracy` averages the classes present in the ground
    truth (`per_class_accuracy` is NaN for the others). `fwiou` weights each class's IoU by its
    share of ground-truth pixels. An empty matrix gives NaN scores.
    """
    cm = np.asarray(cm, dtype=np.float64)
    true_positives = np.diag(cm)
    ground_truth = cm.sum(axis=1)
    union = ground_truth + cm.sum(axis=0) - true_positives
    total = cm.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = true_positives / union
        per_class_accuracy = true_positives / ground_truth
    present = ground_truth > 0
    return {
        "pixel_accuracy": float(true_positives.sum() / total) if total else math.nan,
        "mean_accuracy": _mean(per_class_accuracy),
        "per_class_accuracy": per_class_accuracy.tolist(),
        "iou": iou.tolist(),
        "miou": _mean(iou),
        "fwiou": float((ground_truth[present] * iou[present]).sum() / total) if total else math.nan,
    }


@keras.saving.register_keras_serializable(package=PACKAGE)
class ConfusionMatrixMetric(keras.metrics.Metric):
    """Streaming confusion matrix for `model.compile(metrics=[...])`, reporting one score.

    `y_pred` are logits or probabilities `[B, H, W, K]` (argmax over the last axis), `y_true`
    integer labels `[B, H, W]` or `[B, H, W, 1]`; pixels equal to `ignore_label` are skipped.
    `result()` is `score` (one of `SCORES`) with the same exclusion rule as
    `segmentation_scores`. Keras compile-metrics must return a single value, so log two scores
    with two instances. The name defaults to the score, so logs read `miou`, `val_miou`.

    Every pixel counts once: a `sample_weight` is refused, or with `ignore_sample_weight` left
    out (Keras' `fit` hands a loss's per-pixel weights, such as U-Net's eq. 2 map, to the
    compiled metrics too).

    Other labels outside 0..K-1 cannot raise inside a compiled (XLA) step, so they are counted
    apart: `result()` becomes NaN and `confusion_matrix()` raises ValueError.

    The accumulator is int64: counts stay exact for any realistic dataset, whereas float32
    stops counting exactly at 2**24 pixels (fewer than 100 CamVid images) and int32 overflows
    within a Cityscapes training epoch. Each batch is counted in int32 (a batch has far fewer
    than 2**31 pixels) and added in int64.
    """

    def __init__(self, num_classes, score="miou", ignore_label=255, name=None, dtype=None, ignore_sample_weight=False):
        if score not in SCORES:
            raise ValueError(f"score must be one of {SCORES}, got {score!r}")
        super().__init__(name=name or score, dtype=dtype)
        self.num_classes = num_classes
        self.score = score
        self.ignore_label = ignore_label
        self.ignore_sample_weight = ignore_sample_weight
        self.matrix = self.add_variable(
            shape=(num_classes, num_classes), initializer="zeros", dtype="int64", name="matrix"
        )
        self.out_of_range = self.add_variable(
            shape=(), initializer="zeros", dtype="int64", name="out_of_range"
        )
        if keras.backend.standardize_dtype(self.matrix.value.dtype) != "int64":
            raise ValueError("the confusion matrix counts in int64, which JAX truncates to int32 unless "
                             "JAX_ENABLE_X64=1 is set before JAX is imported (the project's entry points set it)")

    def update_state(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None and not self.ignore_sample_weight:
            raise ValueError(
                "ConfusionMatrixMetric counts pixels and takes no sample_weight; "
                "mark pixels to skip with ignore_label"
            )
        ops = keras.ops
        k = self.num_classes
        y_pred = ops.convert_to_tensor(y_pred)
        y_true = ops.convert_to_tensor(y_true)
        if len(y_true.shape) == len(y_pred.shape):
            y_true = ops.squeeze(y_true, axis=-1)
        y_true = ops.reshape(ops.cast(y_true, "int32"), (-1,))
        predicted = ops.reshape(ops.cast(ops.argmax(y_pred, axis=-1), "int32"), (-1,))
        labelled = ops.not_equal(y_true, self.ignore_label)
        in_range = ops.logical_and(y_true >= 0, y_true < k)
        # Bins 0..K*K-1 are the matrix, bin K*K the out-of-range labels; ignored pixels add 0.
        # segment_sum rather than bincount: XLA needs the number of bins fixed at compile time.
        index = ops.where(in_range, y_true * k + predicted, k * k)
        counts = ops.segment_sum(
            ops.cast(labelled, "int32"), ops.where(labelled, index, 0), num_segments=k * k + 1
        )
        counts = ops.cast(counts, "int64")
        self.matrix.assign_add(ops.reshape(counts[: k * k], (k, k)))
        self.out_of_range.assign_add(counts[k * k])

    def result(self):
        ops = keras.ops
        cm = ops.cast(self.matrix, "float32")
        true_positives = ops.diagonal(cm)
        ground_truth = ops.sum(cm, axis=1)
        union = ground_truth + ops.sum(cm, axis=0) - true_positives
        total = ops.sum(cm)
        # divide_no_nan zeroes absent classes; dividing by the count of present classes then
        # leaves them out of the mean, and an empty matrix gives 0 / 0 = NaN.
        iou = ops.divide_no_nan(true_positives, union)
        if self.score == "pixel_accuracy":
            value = ops.sum(true_positives) / total
        elif self.score == "mean_accuracy":
            present = ops.cast(ground_truth > 0, "float32")
            value = ops.sum(ops.divide_no_nan(true_positives, ground_truth)) / ops.sum(present)
        elif self.score == "miou":
            value = ops.sum(iou) / ops.sum(ops.cast(union > 0, "float32"))
        else:
            value = ops.sum(ground_truth * iou) / total
        value = ops.where(self.out_of_range > 0, float("nan"), value)
        return ops.cast(value, self.dtype)

    def reset_state(self):
        # zeros of the shape, not zeros_like(variable), which JAX's backend cannot take.
        self.matrix.assign(keras.ops.zeros(self.matrix.shape, dtype=self.matrix.dtype))
        self.out_of_range.assign(0)

    def confusion_matrix(self):
        """The accumulated matrix as numpy int64, for `segmentation_scores`."""
        out_of_range = int(keras.ops.convert_to_numpy(self.out_of_range))
        if out_of_range:
            raise ValueError(
                f"{out_of_range} pixels had labels outside 0..{self.num_classes - 1} "
                f"(ignore_label={self.ignore_label})"
            )
        return keras.ops.convert_to_numpy(self.matrix).astype(np.int64)

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "score": self.score,
            "ignore_label": self.ignore_label,
            "ignore_sample_weight": self.ignore_sample_weight,
        }
