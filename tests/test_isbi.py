import itertools
import math

import numpy as np
import pytest
from scipy import ndimage

from segpapers.common import isbi
from segpapers.common.metrics import rand_error, regions

MEMBRANE, CELL = 0, 1  # ISBI 2012's classes; the membrane is the boundary class


def two_cells():
    """5 x 7: cell A (columns 0-2) and cell B (columns 4-6) of 15 pixels each, a membrane at column 3."""
    label = np.full((5, 7), CELL, np.uint8)
    label[:, 3] = MEMBRANE
    return label


def perfect():
    return (two_cells() == MEMBRANE).astype(np.float32)


def merged():  # the membrane missed: one predicted region over both cells
    return np.zeros((5, 7), np.float32)


def gap():  # the membrane missed at one pixel
    membrane = perfect()
    membrane[2, 3] = 0
    return membrane


def split():  # an extra membrane across cell A
    membrane = perfect()
    membrane[2, 0:3] = 1
    return membrane


def thick():  # the membrane three pixels wide, columns 2-4
    membrane = np.zeros((5, 7), np.float32)
    membrane[:, 2:5] = 1
    return membrane


def probabilities(membrane):
    return np.stack([membrane, 1 - membrane], axis=-1)


def score(labels, membranes, **options):
    scorer = isbi.ChallengeScorer(MEMBRANE, **options)
    for label, membrane in zip(labels, membranes):
        scorer.update(label, probabilities(membrane))
    return scorer.result()


def pair_counts(membrane, threshold=0.5):
    return isbi.challenge_rand_counts(two_cells(), membrane, threshold, MEMBRANE)


def test_thresholds_are_the_java_loops_levels_rounding_included():
    assert len(isbi.THRESHOLDS) == 11 and isbi.THRESHOLDS[3] == 0.30000000000000004
    assert isbi.THRESHOLDS[-1] == 0.9999999999999999  # 0.1 added ten times: a map value of 1 is still a cell
    assert len(isbi.WARPING_THRESHOLDS) == 10 and isbi.WARPING_THRESHOLDS[-1] == 0.8999999999999999


def test_a_perfect_prediction_scores_no_error_at_every_threshold():
    result = score([two_cells()], [perfect()])
    assert result["best"] == {"rand_error": 0.0, "pixel_error": 0.0, "wrong_pixel_fraction": 0.0,
                              "warping_error": 0.0, "v_rand": 1.0, "v_info": 1.0}
    assert result["per_threshold"]["rand_error"] == [0.0] * 11


def test_a_missing_membrane_is_a_merge():
    # pairs inside the two 15-pixel cells: 2 C(15,2) = 210 together in truth; the prediction puts all 30 together
    np.testing.assert_array_equal(pair_counts(merged()), [210, 435 - 210, 0, 0])
    best = score([two_cells()], [merged()])["best"]
    assert best["rand_error"] == pytest.approx(1 - 2 * (210 / 435) / (1 + 210 / 435))  # precision 210/435, recall 1
    assert best["pixel_error"] == pytest.approx(1 - 2 * (30 / 35) / (1 + 30 / 35))  # 30 cells + 5 membrane called cell
    assert best["wrong_pixel_fraction"] == pytest.approx(5 / 35)
    assert best["warping_error"] == pytest.approx(5 / 35)  # no membrane pixel can go: all 5 are merge pixels
    assert best["v_rand"] == pytest.approx(2 / 3)  # n^2 pairs: precision 450/900, recall 1
    assert best["v_info"] == 0.0  # one predicted region has no entropy: the Java scores 0


def test_a_one_pixel_gap_merges_the_cells_for_rand_but_costs_one_pixel_of_warping():
    np.testing.assert_array_equal(pair_counts(gap()), pair_counts(merged()))
    best = score([two_cells()], [gap()])["best"]
    assert best["rand_error"] == pytest.approx(225 / 645)
    assert best["v_rand"] == pytest.approx(2 / 3)
    assert best["warping_error"] == pytest.approx(1 / 35)
    assert best["pixel_error"] == pytest.approx(1 / 61)  # F = 2 (30/31) / (1 + 30/31)


def test_an_extra_membrane_through_a_cell_is_a_split():
    # A falls into 6 + 6 pixels (its 3 line pixels are in no predicted region): 2 C(6,2) + C(15,2) = 135 pairs kept
    np.testing.assert_array_equal(pair_counts(split()), [135, 0, 210 - 135, 435 - 210])
    best = score([two_cells()], [split()])["best"]
    assert best["rand_error"] == pytest.approx(5 / 23)  # precision 1, recall 135/210 = 9/14
    assert best["warping_error"] == pytest.approx(1 / 35)  # the line shrinks to its one non-simple pixel
    assert best["v_rand"] == pytest.approx(0.8)  # true positives 36 + 36 + 225 + 3 line pixels, 450 true pairs
    # each predicted region and line pixel lies in one true region, so I = H(true) = log 2
    predicted_entropy = -(2 * 0.2 * math.log(0.2) + 0.5 * math.log(0.5)) + 0.1 * math.log(30)
    assert best["v_info"] == pytest.approx(2 * math.log(2) / (math.log(2) + predicted_entropy))


def test_an_over_thick_membrane_is_no_merge():
    # Columns 2 and 4 lie on the predicted membrane: those pixels pair with nothing, so no pair is falsely together
    true_positives, false_positives, false_negatives, _ = pair_counts(thick())
    assert (true_positives, false_positives, false_negatives) == (90, 0, 120)
    # common.metrics.rand_error makes the 10 predicted-membrane pixels one region across both cells, so it scores
    # the thick membrane exactly as it scores the missing membrane
    predicted = (thick() < 0.5).astype(np.uint8)
    assert rand_error(two_cells(), predicted, MEMBRANE) == pytest.approx(1 / 3)
    assert rand_error(two_cells(), (merged() < 0.5).astype(np.uint8), MEMBRANE) == pytest.approx(1 / 3)
    best = score([two_cells()], [thick()])["best"]
    assert best["rand_error"] == pytest.approx(0.4)  # recall 90/210: the 2012 score's width sensitivity
    assert best["v_rand"] == 1.0 and best["v_info"] == 1.0  # thinned back to column 3
    assert best["warping_error"] == 0.0  # the warp moves the boundary: topology is intact


def test_thinning_follows_the_java_watershed_pixel_by_pixel():
    np.testing.assert_array_equal(isbi.thin_boundaries(thick() < 0.5), [[1, 1, 1, 0, 2, 2, 2]] * 5)
    # The shared `flag` of the Java's queue gives pixel (2, 3) to the right-hand basin
    np.testing.assert_array_equal(isbi.thin_boundaries(split() < 0.5), [[1, 1, 1, 0, 2, 2, 2],
                                                                       [1, 1, 1, 0, 2, 2, 2],
                                                                       [0, 0, 0, 2, 2, 2, 2],
                                                                       [3, 3, 3, 0, 2, 2, 2],
                                                                       [3, 3, 3, 0, 2, 2, 2]])
    # a boundary piece no cell touches becomes a region of its own
    np.testing.assert_array_equal(isbi.thin_boundaries(np.zeros((2, 3), bool)), np.ones((2, 3)))


def test_ignored_pixels_are_in_no_region_and_no_pixel_count():
    label = two_cells()
    label[:, 3] = 255  # the membrane unlabelled: the cells stay apart, and no pixel is wrong
    best = score([label], [merged()])["best"]
    assert best["rand_error"] == pytest.approx(225 / 645)
    assert best["pixel_error"] == 0.0 and best["wrong_pixel_fraction"] == 0.0 and best["warping_error"] == 0.0


@pytest.mark.parametrize("seed", range(6))
def test_pair_counts_equal_a_brute_force_count_of_pixel_pairs(seed):
    rng = np.random.default_rng(seed)
    label = np.where(rng.random((6, 7)) < 0.35, MEMBRANE, CELL).astype(np.uint8)
    label[rng.random(label.shape) < 0.1] = 255
    cells = rng.random(label.shape) < 0.7
    true_regions, predicted = regions(label, MEMBRANE), ndimage.label(cells)[0]
    pixels = [(true_regions[index], predicted[index]) for index in zip(*np.nonzero(true_regions))]
    unordered = np.zeros(4, np.int64)  # tp, fp, fn, tn
    for (true_a, predicted_a), (true_b, predicted_b) in itertools.combinations(pixels, 2):
        together = true_a == true_b
        predicted_together = predicted_a == predicted_b > 0  # a predicted-boundary pixel is together with nothing
        unordered[0 if together and predicted_together else 1 if predicted_together else 2 if together else 3] += 1
    np.testing.assert_array_equal(isbi.rand_pair_counts(true_regions, predicted), unordered)
    ordered = np.zeros(4, np.int64)  # with self-pairs: a predicted-boundary pixel is a region of its own
    for (a, (true_a, predicted_a)), (b, (true_b, predicted_b)) in itertools.product(enumerate(pixels), repeat=2):
        together, predicted_together = true_a == true_b, a == b or predicted_a == predicted_b > 0
        ordered[0 if together and predicted_together else 1 if predicted_together else 2 if together else 3] += 1
    np.testing.assert_array_equal(isbi.vrand_counts(true_regions, predicted), ordered)


def test_the_rand_error_pools_pair_counts_over_slices():
    # Slice 1 perfect (F 1), slice 2 merged (F 420/645): pooled, 420 pairs kept of 645 predicted together
    counts = [pair_counts(perfect(), threshold) + pair_counts(merged(), threshold) for threshold in isbi.THRESHOLDS]
    assert isbi.challenge_error(counts) == pytest.approx(1 - 2 * (420 / 645) / (1 + 420 / 645))
    result = score([two_cells(), two_cells()], [perfect(), merged()])
    assert result["best"]["rand_error"] == pytest.approx(225 / 1065)
    assert result["best"]["rand_error"] != pytest.approx((0 + 225 / 645) / 2)  # not the mean of the slices' errors
    assert result["best"]["v_rand"] == pytest.approx((1 + 2 / 3) / 2)  # the official script averages V_rand


def test_the_scorer_keeps_each_score_at_its_best_threshold():
    # On the challenge's map 1 - p: the membrane at 0.45 is a cell below t = 0.5 (merge), the line across A at 0.75
    # is a membrane from t = 0.8 on (split): only t = 0.5, 0.6, 0.7 are right, and the first of them is kept
    membrane = np.where(two_cells() == MEMBRANE, 0.55, 0.0).astype(np.float32)
    membrane[2, 0:3] = 0.25
    result = score([two_cells(), np.fliplr(two_cells()), two_cells().T], [membrane, np.fliplr(membrane), membrane.T])
    per_threshold = result["per_threshold"]
    np.testing.assert_allclose(per_threshold["rand_error"], [225 / 645] * 5 + [0] * 3 + [5 / 23] * 3)
    np.testing.assert_allclose(per_threshold["v_rand"], [2 / 3] * 5 + [1] * 3 + [0.8] * 3)
    np.testing.assert_allclose(per_threshold["warping_error"], [5 / 35] * 5 + [0] * 3 + [1 / 35] * 2)
    assert result["best_threshold"] == dict.fromkeys(isbi.SCORES, 0.5)
    assert result["slices"] == 3 and result["threshold_count"] == 11 and set(result["definitions"]) == set(isbi.SCORES)
    assert isbi.ChallengeScorer.summary(result) == ("Rand error 0.0000, pixel error 0.0000, wrong pixels 0.0000, "
                                                    "warping error 0.000000, V_rand 1.0000, V_info 1.0000 "
                                                    "(best of 11 thresholds, warping of 10)")


def test_the_warping_error_can_be_left_out():
    result = score([two_cells()], [merged()], warping_thresholds=())
    assert "warping_error" not in result["best"] and "warping error" not in isbi.ChallengeScorer.summary(result)


def test_the_scorer_refuses_mismatched_inputs_and_an_empty_result():
    scorer = isbi.ChallengeScorer(MEMBRANE)
    with pytest.raises(ValueError, match="no slices"):
        scorer.result()
    with pytest.raises(ValueError, match="H x W x C"):
        scorer.update(two_cells(), probabilities(perfect())[:4])
