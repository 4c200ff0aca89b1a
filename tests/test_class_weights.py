import json
import math

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from segpapers.common.class_weights import (
    class_statistics,
    compute_class_weights,
    enet_weights,
    median_frequency_weights,
)
from tests.paths import SHARED_DATA, needs_shared_data


# Three images of 4, 6 and 2 pixels; class 3 never occurs.
LABELS = [
    np.array([[0, 0], [1, 255]], np.uint8),
    tf.constant([[1, 1, 1], [2, 2, 255]]),
    np.array([[0, 255]]),
]


def test_class_statistics_by_hand():
    pixel_counts, image_pixel_totals = class_statistics(LABELS, 4)
    np.testing.assert_array_equal(pixel_counts, [3, 4, 2, 0])
    # Class 0 is in the 4- and 2-pixel images, class 1 in the 4- and 6-pixel ones, class 2 in
    # the 6-pixel one; ignored pixels count towards the image sizes.
    np.testing.assert_array_equal(image_pixel_totals, [6, 10, 6, 0])
    assert pixel_counts.dtype == image_pixel_totals.dtype == np.int64


def test_median_frequency_by_hand():
    # freq = 3/6, 4/10, 2/6 -> median 0.4; class 3 never occurs and gets 0.
    weights = median_frequency_weights([3, 4, 2, 0], [6, 10, 6, 0])
    np.testing.assert_allclose(weights, [0.8, 1.0, 1.2, 0.0])


def test_enet_by_hand():
    # 9 labelled pixels: p = 3/9, 4/9, 2/9, 0.
    expected = [1 / math.log(1.02 + p) for p in (3 / 9, 4 / 9, 2 / 9, 0.0)]
    np.testing.assert_allclose(enet_weights([3, 4, 2, 0]), expected)
    np.testing.assert_allclose(enet_weights([1, 1], c=1.5), [1 / math.log(2.0)] * 2)


def test_compute_class_weights_dispatches():
    assert compute_class_weights("none", LABELS, 4) is None
    np.testing.assert_allclose(
        compute_class_weights("median_frequency", LABELS, 4), [0.8, 1.0, 1.2, 0.0]
    )
    np.testing.assert_allclose(
        compute_class_weights("enet", LABELS, 4), enet_weights([3, 4, 2, 0])
    )
    with pytest.raises(ValueError, match="'none', 'median_frequency', 'enet'"):
        compute_class_weights("inverse", LABELS, 4)


@pytest.mark.parametrize("bad", [4, -1])
def test_out_of_range_label_raises(bad):
    with pytest.raises(ValueError):
        class_statistics([np.array([[0, bad]])], 4)


@pytest.mark.slow
@needs_shared_data("camvid/class_stats.json", "camvid/trainannot")
def test_camvid_median_frequency_matches_class_stats():
    stats = json.loads((SHARED_DATA / "camvid" / "class_stats.json").read_text())
    paths = sorted((SHARED_DATA / "camvid" / "trainannot").glob("*.png"))
    assert len(paths) == stats["num_images"]
    void = stats["ignore_index"]
    labels = [np.asarray(Image.open(path)) for path in paths]
    labels = [np.where(label == void, 255, label) for label in labels]
    num_classes = len(stats["classes"])
    pixel_counts, image_pixel_totals = class_statistics(labels, num_classes)
    np.testing.assert_array_equal(pixel_counts, stats["pixel_counts"])
    np.testing.assert_array_equal(
        image_pixel_totals, np.multiply(stats["images_containing_class"], 480 * 360)
    )
    np.testing.assert_allclose(
        compute_class_weights("median_frequency", labels, num_classes),
        stats["median_freq_weights"],
        atol=1e-3,
    )


def test_enet_weights_can_take_shares_of_all_pixels_void_included():
    labels = [np.array([[0, 0, 1, 255]])]
    np.testing.assert_allclose(compute_class_weights("enet", labels, 2, share_includes_ignored=True, c=1.2),
                               [1 / math.log(1.2 + 2 / 4), 1 / math.log(1.2 + 1 / 4)])
    np.testing.assert_allclose(compute_class_weights("enet", labels, 2), [1 / math.log(1.02 + 2 / 3),
                                                                          1 / math.log(1.02 + 1 / 3)])
