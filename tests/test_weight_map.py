"""U-Net's weight map (eq. 2) against hand-computed values and brute-force distances."""
import numpy as np
import pytest

from segpapers.common.weight_map import connected_components, euclidean_distance_transform, unet_weight_map

W0, SIGMA = 10.0, 5.0


def two_blobs(gap):
    """Two 20x20 cells (class 1) side by side on background (class 0), `gap` columns apart."""
    label = np.zeros((40, 100), np.uint8)
    label[10:30, 20:40] = 1
    label[10:30, 40 + gap:60 + gap] = 1
    return label


def brute_force_distances(mask):
    points = np.argwhere(mask)
    grid = np.indices(mask.shape).reshape(2, -1).T
    return np.sqrt(((grid[:, None, :] - points[None]) ** 2).sum(-1)).min(1).reshape(mask.shape)


def test_distance_transform_is_exact():
    mask = np.random.default_rng(0).random((23, 31)) < 0.03
    np.testing.assert_allclose(euclidean_distance_transform(mask), brute_force_distances(mask), rtol=1e-12)
    assert np.isinf(euclidean_distance_transform(np.zeros((3, 4), bool))).all()


def test_connected_components_are_4_connected():
    mask = np.array([[1, 1, 0, 0, 1],
                     [0, 1, 0, 1, 0],  # diagonal neighbours such as (1, 1)-(2, 2) stay apart
                     [0, 0, 1, 1, 0],
                     [1, 0, 0, 0, 0]], bool)
    ids = connected_components(mask)
    assert ids[0, 0] == ids[0, 1] == ids[1, 1]
    assert ids[1, 3] == ids[2, 3] == ids[2, 2]
    assert len({ids[0, 0], ids[1, 3], ids[0, 4], ids[3, 0]}) == 4 and (ids[~mask] == -1).all()
    # A serpentine cell: one component however long its path.
    snake = np.zeros((9, 9), bool)
    snake[::2] = True
    snake[1::4, -1] = snake[3::4, 0] = True
    assert (connected_components(snake)[snake] == 0).all()


def test_weight_is_highest_in_the_gap_and_decays_to_the_class_weight():
    label = two_blobs(gap=2)
    class_weights = (0.5, 2.0)
    weights = unet_weight_map(label, class_weights, w0=W0, sigma=SIGMA)
    # Gap columns 40 and 41: 1 pixel from one cell, 2 from the other.
    expected_gap = 0.5 + W0 * np.exp(-(1 + 2) ** 2 / (2 * SIGMA ** 2))
    np.testing.assert_allclose(weights[20, 40:42], expected_gap, rtol=1e-6)
    assert weights.max() == pytest.approx(expected_gap) and expected_gap > 0.5 + 0.8 * W0
    # Straight above the gap the weight decays with the distance to both cells.
    column = weights[:10, 40][::-1]  # rows 9, 8, ..., 0; row 9 is sqrt(2) and sqrt(5) from the cells
    assert (np.diff(column) < 0).all()
    expected_row_9 = 0.5 + W0 * np.exp(-(np.hypot(1, 1) + np.hypot(1, 2)) ** 2 / (2 * SIGMA ** 2))
    np.testing.assert_allclose(column[0], expected_row_9, rtol=1e-6)
    # Far from the pair of cells, and inside them, only w_c remains.
    np.testing.assert_allclose(weights[:, 95:], 0.5, atol=1e-6)
    np.testing.assert_allclose(weights[label == 1], 2.0)


def test_a_wider_gap_weighs_less_and_one_cell_alone_adds_nothing():
    narrow, wide = (unet_weight_map(two_blobs(gap), (1.0, 1.0))[20, 40] for gap in (1, 8))
    assert narrow == pytest.approx(1 + W0 * np.exp(-4 / (2 * SIGMA ** 2))) and narrow > wide > 1
    single = np.zeros((30, 30), np.uint8)
    single[10:20, 10:20] = 1
    np.testing.assert_allclose(unet_weight_map(single, (1.0, 1.0)), 1.0)


def test_matches_eq_2_with_brute_force_distances_on_random_cells():
    rng = np.random.default_rng(3)
    label = (rng.random((40, 48)) < 0.45).astype(np.uint8)
    label[5, 5] = 255
    weights = unet_weight_map(label)
    cells = connected_components(label == 1)
    distances = np.sort(np.stack([brute_force_distances(cells == c) for c in range(cells.max() + 1)]), axis=0)
    valid = label != 255
    frequency = np.array([(label[valid] == c).mean() for c in (0, 1)])
    class_weight = (1 / (2 * frequency))[np.where(valid, label, 0)]
    border = W0 * np.exp(-(distances[0] + distances[1]) ** 2 / (2 * SIGMA ** 2))
    expected = np.where(label == 0, class_weight + border, class_weight)
    expected[5, 5] = 0
    np.testing.assert_allclose(weights, expected, rtol=1e-5, atol=1e-6)
    # Default w_c: every class carries the same total weight, and the map averages 1 without borders.
    assert class_weight[valid].mean() == pytest.approx(1.0)


def test_too_few_class_weights_are_refused():
    with pytest.raises(ValueError, match="class 2 but only 2 class weights"):
        unet_weight_map(np.array([[0, 1], [2, 1]]), (1.0, 1.0))
