import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from segpapers.common import viz

IMAGE_COLOUR = (10, 200, 30)  # a flat image, so its colour marks the panels' pixels exactly
PALETTE = [(128, 64, 128), (220, 20, 60), (70, 130, 180)]
NAMES = ["road", "person", "sky"]


def flat_image(height, width):
    return np.broadcast_to(np.array(IMAGE_COLOUR, np.uint8), (height, width, 3))


def halves(height, width):
    """Class 0 on the left half, class 1 on the right."""
    label = np.zeros((height, width), np.uint8)
    label[:, width // 2:] = 1
    return label


def image_rows(panel):
    """The rows of the image panel (the first one): where its middle column shows the image."""
    return np.flatnonzero(np.all(panel[:, panel.shape[1] // 6] == IMAGE_COLOUR, axis=-1))


def legend_of(panel):
    return panel[image_rows(panel)[-1] + 1:]


def has_square(region, colour, side=10):
    """Whether `region` holds a `side` x `side` block of exactly `colour` (a swatch; text has none)."""
    mask = np.all(region == colour, axis=-1)
    return bool(sliding_window_view(mask, (side, side)).all(axis=(-2, -1)).any())


def test_tiny_input_is_enlarged_to_min_height():
    panel = viz.comparison_panel(flat_image(16, 24), halves(16, 24), halves(16, 24), PALETTE, NAMES, min_height=360)
    rows = image_rows(panel)
    assert len(rows) == 360 and np.all(np.diff(rows) == 1)  # one block, 24 px wide -> 540
    assert panel.shape[1] == 3 * 540 and panel.dtype == np.uint8
    assert rows[0] > 0 and panel.shape[0] > rows[-1] + 1  # a title above, a legend below


def test_input_taller_than_min_height_keeps_its_size():
    panel = viz.comparison_panel(flat_image(480, 640), halves(480, 640), halves(480, 640), PALETTE, NAMES)
    assert len(image_rows(panel)) == 480 and panel.shape[1] == 3 * 640


def test_many_classes_wrap_onto_more_legend_rows():
    palette = [(i * 8, 255 - i * 8, 100) for i in range(30)]
    names = [f"class number {i}" for i in range(30)]
    few = viz.comparison_panel(flat_image(64, 64), halves(64, 64), halves(64, 64), palette[:3], names[:3])
    many = viz.comparison_panel(flat_image(64, 64), halves(64, 64), halves(64, 64), palette, names)
    assert few.shape[1] == many.shape[1]
    assert legend_of(many).shape[0] > 2 * legend_of(few).shape[0]  # 30 names need 3+ rows of 1080 px


def test_prediction_panel_blends_each_class_colour():
    prediction = halves(64, 64)
    panel = viz.comparison_panel(flat_image(64, 64), np.full((64, 64), 2), prediction, PALETTE, NAMES, alpha=0.25)
    row = image_rows(panel)[180]
    for class_id, column in [(0, 2 * 360 + 90), (1, 2 * 360 + 270)]:
        expected = (0.25 * np.array(PALETTE[class_id]) + 0.75 * np.array(IMAGE_COLOUR)).astype(np.uint8)
        np.testing.assert_array_equal(panel[row, column], expected)
    ground_truth_colour = (0.25 * np.array(PALETTE[2]) + 0.75 * np.array(IMAGE_COLOUR)).astype(np.uint8)
    np.testing.assert_array_equal(panel[row, 360 + 90], ground_truth_colour)


def test_legend_holds_each_class_swatch_exactly():
    legend = legend_of(viz.comparison_panel(flat_image(64, 64), halves(64, 64), halves(64, 64), PALETTE, NAMES))
    assert all(has_square(legend, colour) for colour in PALETTE)


def test_legend_shows_ignored_only_when_the_ground_truth_has_it():
    ground_truth = halves(64, 64)
    clean = viz.comparison_panel(flat_image(64, 64), ground_truth, ground_truth, PALETTE, NAMES)
    ground_truth[:4] = 255
    with_ignored = viz.comparison_panel(flat_image(64, 64), ground_truth, halves(64, 64), PALETTE, NAMES)
    assert has_square(legend_of(with_ignored), viz.IGNORE_COLOUR)
    assert not has_square(legend_of(clean), viz.IGNORE_COLOUR)


def test_prediction_overlay_is_one_panel_with_the_legend():
    overlay = viz.prediction_overlay(flat_image(16, 24), halves(16, 24), PALETTE, NAMES, alpha=0.5)
    assert overlay.shape[1] == 540
    expected = (0.5 * np.array(PALETTE[1]) + 0.5 * np.array(IMAGE_COLOUR)).astype(np.uint8)
    rows = np.flatnonzero(np.all(overlay[:, 400] == expected, axis=-1))
    assert len(rows) == 360
    assert all(has_square(overlay[rows[-1] + 1:], colour) for colour in PALETTE)
