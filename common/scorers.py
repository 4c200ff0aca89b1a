"""Scorers: objects that accumulate one family of scores over a split, image by image.

Each has `update(label, probabilities)` (an H x W label with the ignore label, the model's H x W x C
class probabilities), `result()` (JSON-ready), `summary(result)` (one line for the console and the
table), `headline(result)` (the scores papers report, by their names, to set beside theirs), a
`key`, the results-file entry its result goes to, and `primary`, the one headline score that says
whether a change (the CRF's) helped. `scorers_for(info)` picks them from
a dataset's info, so evaluation and the table have no per-dataset branches.
"""
import numpy as np

from segpapers.common import metrics
from segpapers.common.isbi import ChallengeScorer


class ConfusionScorer:
    """One confusion matrix: FCN's score.py scores (G, C, per-class IoU, mIoU, fwIoU). On a dataset with
    a boundary class also ISBI-style scores at argmax: pixel error, the boundary class's IoU and the
    adapted Rand error (skimage's convention, `common.metrics.rand_error`), kept beside the challenge's."""

    key = "metrics"
    primary = "miou"

    def __init__(self, num_classes, ignore_label=255, boundary_class=None):
        self.num_classes, self.ignore_label, self.boundary_class = num_classes, ignore_label, boundary_class
        self.confusion = np.zeros((num_classes, num_classes), np.int64)
        self.rand_errors = []

    def update(self, label, probabilities):
        predicted = np.argmax(probabilities, axis=-1)
        self.confusion += metrics.confusion_matrix(label, predicted, self.num_classes, self.ignore_label)
        if self.boundary_class is not None:
            self.rand_errors.append(metrics.rand_error(label, predicted, self.boundary_class, self.ignore_label))

    def result(self):
        scores = metrics.segmentation_scores(self.confusion)
        if self.boundary_class is not None:
            adapted = metrics.boundary_scores(self.confusion, self.boundary_class, self.rand_errors)
            scores.update(pixel_error=adapted["pixel_error"], foreground_iou=adapted["foreground_iou"],
                          adapted_rand_error=adapted["rand_error"])
        return scores

    @staticmethod
    def summary(result):
        line = " / ".join(f"{100 * result[key]:.1f}" for key in ("pixel_accuracy", "mean_accuracy", "miou"))
        return f"G / C / mIoU {line}"

    @staticmethod
    def headline(result):
        return {key: result[key] for key in ("pixel_accuracy", "mean_accuracy", "miou")}


def scorers_for(info):
    """The scorers of a dataset: the confusion matrix for every one, the ISBI 2012 challenge's scores
    (`common.isbi.ChallengeScorer`, key "isbi_challenge") for a two-class boundary dataset."""
    boundary = info.class_names.index(info.boundary_class) if info.boundary_class else None
    scorers = [ConfusionScorer(info.num_classes, info.ignore_label, boundary)]
    if boundary is not None and info.num_classes == 2:
        scorers.append(ChallengeScorer(boundary, info.ignore_label))
    return scorers


def one_hot(labels, num_classes):
    """Class ids as probabilities of 1, for scoring a labelling (the CRF's) with the same scorers."""
    return np.eye(num_classes, dtype=np.float32)[labels]
