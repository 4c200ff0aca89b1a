"""Class weights from label statistics: median frequency balancing (Eigen & Fergus 2015, used by
SegNet) and ENet's 1 / ln(c + p) weighting (Paszke et al. 2016, sec. 5.2)."""

import numpy as np

METHODS = ("none", "median_frequency", "enet")


def class_statistics(labels, num_classes, ignore_label=255, ignored=None):
    """Per-class pixel counts and the total size of the images each class appears in.

    `labels` is an iterable of label maps (numpy arrays or tensors). Returns int64 arrays
    `(pixel_counts, image_pixel_totals)`: `pixel_counts[c]` is the number of pixels of class c;
    `image_pixel_totals[c]` sums the full size of every image containing c, ignored pixels
    included, as in SegNet's definition. A label outside 0..num_classes-1 other than
    `ignore_label` raises ValueError. `ignored`, a one-element int64 array, receives the count of
    ignored pixels.
    """
    pixel_counts = np.zeros(num_classes, np.int64)
    image_pixel_totals = np.zeros(num_classes, np.int64)
    for label in labels:
        label = np.asarray(label).astype(np.int64)
        # np.bincount itself rejects negative labels.
        counts = np.bincount(label[label != ignore_label], minlength=num_classes)
        if counts.size > num_classes:
            raise ValueError(
                f"labels {(np.flatnonzero(counts[num_classes:]) + num_classes).tolist()} outside "
                f"0..{num_classes - 1} (ignore_label={ignore_label})"
            )
        pixel_counts += counts
        image_pixel_totals[counts > 0] += label.size
        if ignored is not None:
            ignored += label.size - counts.sum()
    return pixel_counts, image_pixel_totals


def median_frequency_weights(pixel_counts, image_pixel_totals):
    """weight_c = median(freq) / freq_c with freq_c = pixel_counts[c] / image_pixel_totals[c].

    Classes that never occur have no frequency: they are left out of the median and get weight
    0 (there are no pixels of theirs to weight).
    """
    pixel_counts = np.asarray(pixel_counts, np.float64)
    image_pixel_totals = np.asarray(image_pixel_totals, np.float64)
    present = pixel_counts > 0
    freq = pixel_counts[present] / image_pixel_totals[present]
    weights = np.zeros(pixel_counts.shape)
    weights[present] = np.median(freq) / freq
    return weights


def enet_weights(pixel_counts, c=1.02, ignored_pixels=0):
    """w_class = 1 / ln(c + p_class), p_class being the class's share of the pixels: of the labelled
    ones, or of all when `ignored_pixels` (void) is given, as e-lab's and PyTorch-ENet's code count."""
    pixel_counts = np.asarray(pixel_counts, np.float64)
    return 1.0 / np.log(c + pixel_counts / (pixel_counts.sum() + ignored_pixels))


def compute_class_weights(method, labels, num_classes, ignore_label=255, c=1.02, share_includes_ignored=False):
    """Class weights for `SegmentationCrossEntropy` by `method` (one of `METHODS`); None for
    "none". `c` and `share_includes_ignored` are ENet's options (`enet_weights`)."""
    if method not in METHODS:
        raise ValueError(f"class weighting method must be one of {METHODS}, got {method!r}")
    if method == "none":
        return None
    ignored = np.zeros(1, np.int64)
    pixel_counts, image_pixel_totals = class_statistics(labels, num_classes, ignore_label, ignored)
    if method == "median_frequency":
        return median_frequency_weights(pixel_counts, image_pixel_totals)
    return enet_weights(pixel_counts, c, int(ignored[0]) if share_includes_ignored else 0)
