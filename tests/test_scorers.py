"""Scorers chosen by a dataset's info, fed image by image."""
import numpy as np
import pytest

from segpapers import datasets
from segpapers.common import metrics
from segpapers.common.isbi import ChallengeScorer
from segpapers.common.scorers import ConfusionScorer, one_hot, scorers_for


def test_each_dataset_gets_its_scorers():
    assert [type(s) for s in scorers_for(datasets.get_info("camvid"))] == [ConfusionScorer]
    isbi = scorers_for(datasets.get_info("isbi2012"))
    assert [type(s) for s in isbi] == [ConfusionScorer, ChallengeScorer]
    assert [s.key for s in isbi] == ["metrics", "isbi_challenge"]


def test_the_confusion_scorer_sums_the_images_confusion_matrices():
    rng = np.random.default_rng(0)
    labels = [rng.integers(0, 3, (4, 5)) for _ in range(3)]
    labels[0][0, 0] = 255  # ignored
    probabilities = [rng.random((4, 5, 3)) for _ in range(3)]
    scorer = ConfusionScorer(3)
    for label, probs in zip(labels, probabilities):
        scorer.update(label, probs)
    expected = sum(metrics.confusion_matrix(label, probs.argmax(-1), 3) for label, probs in zip(labels, probabilities))
    np.testing.assert_array_equal(scorer.confusion, expected)
    assert scorer.result()["miou"] == pytest.approx(metrics.segmentation_scores(expected)["miou"])
    assert scorer.summary(scorer.result()).startswith("G / C / mIoU ")


def test_a_labelling_scores_as_its_one_hot_probabilities():
    label = np.array([[0, 1], [1, 1]])
    scorer = ConfusionScorer(2)
    scorer.update(label, one_hot(label, 2))
    assert scorer.result()["pixel_accuracy"] == 1.0


def test_the_headline_is_what_the_papers_report_and_the_primary_score_is_the_datasets_own():
    from segpapers.experiment.scoring import scored

    label = np.zeros((8, 8), np.int64)
    label[:, 3] = 0
    label[:, [0, 1, 2, 4, 5, 6, 7]] = 1  # one membrane column between two cells
    for scorers, primary in ((scorers_for(datasets.get_info("camvid"))[:1], "miou"),
                             (scorers_for(datasets.get_info("isbi2012")), "rand_error")):
        for scorer in scorers:
            classes = 11 if primary == "miou" else 2
            scorer.update(label, one_hot(label, classes))
        found = scored(scorers)
        assert found["primary"] == primary and primary in found["headline"]
        assert {"pixel_accuracy", "mean_accuracy", "miou"} <= set(found["headline"])
    assert found["headline"]["rand_error"] == found["isbi_challenge"]["best"]["rand_error"] == 0.0
