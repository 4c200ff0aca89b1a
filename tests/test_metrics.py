import math
import warnings

import keras
import numpy as np
import pytest

from segpapers.common.metrics import (SCORES, ConfusionMatrixMetric, boundary_scores, confusion_matrix, rand_error, regions,
                            segmentation_scores)


def brute_force(y_true, y_pred, num_classes, ignore_label=255):
    """Scores from explicit per-pixel, per-class counting of TP, FP and FN."""
    pixels = [(t, p) for t, p in zip(y_true.ravel().tolist(), y_pred.ravel().tolist())
              if t != ignore_label]
    cm = np.zeros((num_classes, num_classes), np.int64)
    for t, p in pixels:
        cm[t, p] += 1
    iou, accuracy = [], []
    for c in range(num_classes):
        tp = sum(1 for t, p in pixels if t == c and p == c)
        fp = sum(1 for t, p in pixels if t != c and p == c)
        fn = sum(1 for t, p in pixels if t == c and p != c)
        iou.append(tp / (tp + fp + fn) if tp + fp + fn else math.nan)
        accuracy.append(tp / (tp + fn) if tp + fn else math.nan)
    frequency = [sum(1 for t, _ in pixels if t == c) / len(pixels) for c in range(num_classes)]
    scores = {
        "pixel_accuracy": sum(1 for t, p in pixels if t == p) / len(pixels),
        "mean_accuracy": np.mean([a for a in accuracy if not math.isnan(a)]),
        "per_class_accuracy": accuracy,
        "iou": iou,
        "miou": np.mean([i for i in iou if not math.isnan(i)]),
        "fwiou": sum(f * i for f, i in zip(frequency, iou) if f > 0),
    }
    return cm, scores


def assert_scores_equal(actual, expected):
    assert set(actual) == set(expected)
    for key in expected:
        np.testing.assert_allclose(actual[key], expected[key], rtol=1e-12, err_msg=key)


@pytest.mark.parametrize("seed", range(5))
def test_random_cases_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    num_classes = int(rng.integers(2, 7))
    y_true = rng.integers(0, num_classes, size=(3, 7, 9))
    y_true[rng.random(y_true.shape) < 0.2] = 255
    y_pred = rng.integers(0, num_classes, size=y_true.shape)
    expected_cm, expected_scores = brute_force(y_true, y_pred, num_classes)
    cm = confusion_matrix(y_true.astype(np.uint8), y_pred, num_classes)
    assert cm.dtype == np.int64
    np.testing.assert_array_equal(cm, expected_cm)
    assert_scores_equal(segmentation_scores(cm), expected_scores)


def test_perfect_prediction_scores_one():
    y = np.array([[0, 1, 2], [2, 1, 255]])
    scores = segmentation_scores(confusion_matrix(y, np.where(y == 255, 0, y), 3))
    for key in SCORES:
        assert scores[key] == 1.0


def test_class_absent_from_both_is_nan_and_excluded():
    y_true = np.array([0, 0, 1, 1])
    y_pred = np.array([0, 1, 1, 1])
    scores = segmentation_scores(confusion_matrix(y_true, y_pred, 3))
    assert math.isnan(scores["iou"][2]) and math.isnan(scores["per_class_accuracy"][2])
    assert scores["iou"][:2] == [1 / 2, 2 / 3]
    assert scores["miou"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert scores["mean_accuracy"] == pytest.approx((1 / 2 + 1) / 2)


def test_class_only_predicted_has_iou_zero_and_counts():
    y_true = np.array([0, 0, 1, 1])
    y_pred = np.array([0, 2, 1, 1])
    scores = segmentation_scores(confusion_matrix(y_true, y_pred, 3))
    assert scores["iou"] == [1 / 2, 1.0, 0.0]
    assert scores["miou"] == pytest.approx(1 / 2)
    assert math.isnan(scores["per_class_accuracy"][2])
    assert scores["mean_accuracy"] == pytest.approx(3 / 4)


def test_worked_example():
    # Ground truth 0 0 0 1 1 2 (+ one ignored pixel), prediction 0 0 1 1 2 2.
    y_true = np.array([0, 0, 0, 1, 1, 2, 255])
    y_pred = np.array([0, 0, 1, 1, 2, 2, 0])
    cm = confusion_matrix(y_true, y_pred, 3)
    np.testing.assert_array_equal(cm, [[2, 1, 0], [0, 1, 1], [0, 0, 1]])
    scores = segmentation_scores(cm)
    assert scores["pixel_accuracy"] == pytest.approx(4 / 6)
    assert scores["per_class_accuracy"] == pytest.approx([2 / 3, 1 / 2, 1])
    assert scores["mean_accuracy"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    # IoU: class 0 2/(3+2-2), class 1 1/(2+2-1), class 2 1/(1+2-1).
    assert scores["iou"] == pytest.approx([2 / 3, 1 / 3, 1 / 2])
    assert scores["miou"] == pytest.approx(1 / 2)
    assert scores["fwiou"] == pytest.approx(3 / 6 * 2 / 3 + 2 / 6 * 1 / 3 + 1 / 6 * 1 / 2)


def test_empty_matrix_gives_nan_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = segmentation_scores(np.zeros((3, 3), np.int64))
    for key in SCORES:
        assert math.isnan(scores[key])


@pytest.mark.parametrize(
    "y_true, y_pred", [([0, 3], [0, 0]), ([0, -1], [0, 0]), ([0, 1], [0, 3]), ([0, 255], [0, 3])]
)
def test_out_of_range_labels_raise(y_true, y_pred):
    with pytest.raises(ValueError, match="outside 0..2"):
        confusion_matrix(np.array(y_true), np.array(y_pred), 3)


def random_batches(rng, num_classes, count=3, shape=(2, 5, 6)):
    batches = []
    for _ in range(count):
        y_true = rng.integers(0, num_classes, size=shape)
        y_true[rng.random(shape) < 0.2] = 255
        logits = rng.normal(size=shape + (num_classes,)).astype("float32")
        batches.append((y_true, logits))
    return batches


def test_streaming_metric_matches_numpy():
    rng = np.random.default_rng(0)
    num_classes = 4
    batches = random_batches(rng, num_classes)
    y_true = np.concatenate([t for t, _ in batches])
    y_pred = np.concatenate([p for _, p in batches]).argmax(-1)
    expected_cm = confusion_matrix(y_true, y_pred, num_classes)
    expected = segmentation_scores(expected_cm)
    for score in SCORES:
        metric = ConfusionMatrixMetric(num_classes, score=score)
        assert metric.name == score
        for i, (labels, logits) in enumerate(batches):
            # Both label layouts Keras may hand over.
            metric.update_state(labels[..., None] if i % 2 else labels, logits)
        np.testing.assert_array_equal(metric.confusion_matrix(), expected_cm)
        assert metric.confusion_matrix().dtype == np.int64
        assert float(metric.result()) == pytest.approx(expected[score], rel=1e-6)
        metric.reset_state()
        assert not metric.confusion_matrix().any()


def test_streaming_metric_excludes_absent_classes_and_empty_is_nan():
    metric = ConfusionMatrixMetric(3)
    assert math.isnan(float(metric.result()))
    logits = np.eye(3, dtype="float32")[[0, 1, 1, 1]][None, None]
    metric.update_state(np.array([[[0, 0, 1, 1]]]), logits)
    assert float(metric.result()) == pytest.approx((1 / 2 + 2 / 3) / 2)


def test_streaming_metric_counts_each_pixel_once_whatever_the_sample_weight():
    labels, logits = np.array([[[0, 0, 1, 1]]]), np.eye(3, dtype="float32")[[0, 1, 1, 1]][None, None]
    weights = np.array([[[10.0, 1.0, 1.0, 1.0]]])
    with pytest.raises(ValueError, match="takes no sample_weight"):
        ConfusionMatrixMetric(3).update_state(labels, logits, sample_weight=weights)
    metric = ConfusionMatrixMetric(3, ignore_sample_weight=True)  # as training compiles it: loss weights only
    metric.update_state(labels, logits, sample_weight=weights)
    np.testing.assert_array_equal(metric.confusion_matrix(), [[1, 1, 0], [0, 2, 0], [0, 0, 0]])


@pytest.mark.parametrize("bad", [3, -1])
def test_streaming_metric_flags_out_of_range_labels(bad):
    metric = ConfusionMatrixMetric(3)
    metric.update_state(np.array([[[0, bad, 255]]]), np.zeros((1, 1, 3, 3), "float32"))
    assert math.isnan(float(metric.result()))
    with pytest.raises(ValueError, match="1 pixels had labels outside 0..2"):
        metric.confusion_matrix()
    metric.reset_state()
    assert math.isnan(float(metric.result()))  # empty again
    metric.update_state(np.array([[[0, 0]]]), np.zeros((1, 1, 2, 3), "float32"))
    assert float(metric.result()) == 1.0


def tiny_model(num_classes):
    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.Conv2D(num_classes, 1)(inputs)
    return keras.Model(inputs, outputs)


def test_metric_in_fit_evaluate_and_saved_model(tmp_path):
    rng = np.random.default_rng(0)
    num_classes = 3
    x = rng.normal(size=(4, 8, 8, 3)).astype("float32")
    y = rng.integers(0, num_classes, size=(4, 8, 8))
    y[:, :2] = 255
    model = tiny_model(num_classes)
    model.compile(
        optimizer="sgd",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=255),
        metrics=[
            ConfusionMatrixMetric(num_classes),
            ConfusionMatrixMetric(num_classes, score="pixel_accuracy"),
        ],
    )
    history = model.fit(x, y, batch_size=2, epochs=1, validation_data=(x, y), verbose=0)
    assert {"miou", "pixel_accuracy", "val_miou", "val_pixel_accuracy"} <= set(history.history)

    results = model.evaluate(x, y, batch_size=2, verbose=0, return_dict=True)
    expected_cm = confusion_matrix(y, model.predict(x, verbose=0).argmax(-1), num_classes)
    expected = segmentation_scores(expected_cm)
    assert results["miou"] == pytest.approx(expected["miou"], rel=1e-5)
    assert results["pixel_accuracy"] == pytest.approx(expected["pixel_accuracy"], rel=1e-5)

    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    reloaded = loaded.evaluate(x, y, batch_size=2, verbose=0, return_dict=True)
    assert reloaded["miou"] == pytest.approx(results["miou"], rel=1e-6)
    metric = {m.name: m for m in loaded.metrics[1].metrics}["miou"]
    assert isinstance(metric, ConfusionMatrixMetric)
    np.testing.assert_array_equal(metric.confusion_matrix(), expected_cm)


def brute_force_rand_error(true_regions, predicted_regions):
    """1 - F-score of pixel pairs (self-pairs included) that share a region, over ground-truth objects."""
    inside = true_regions.ravel() > 0
    true, pred = true_regions.ravel()[inside], predicted_regions.ravel()[inside]
    same_true = true[:, None] == true[None, :]
    same_pred = pred[:, None] == pred[None, :]
    together_in_both = np.sum(same_true & same_pred)
    precision, recall = together_in_both / np.sum(same_pred), together_in_both / np.sum(same_true)
    return 1 - 2 * precision * recall / (precision + recall)


@pytest.mark.parametrize("seed", range(5))
def test_rand_error_matches_pair_counting(seed):
    rng = np.random.default_rng(seed)
    label = (rng.random((9, 11)) < 0.35).astype(np.uint8)  # 1 = boundary
    label[0, :3] = 255
    predicted = np.where(rng.random(label.shape) < 0.2, 1 - np.minimum(label, 1), np.minimum(label, 1))
    expected = brute_force_rand_error(regions(label, 1), regions(predicted, 1))
    assert rand_error(label, predicted, boundary_class=1) == pytest.approx(expected)


def test_rand_error_is_zero_for_a_perfect_split_and_counts_merges():
    label = np.zeros((5, 9), np.uint8)
    label[:, 4] = 1  # a membrane between two cells
    assert rand_error(label, label, boundary_class=1) == 0
    assert regions(label, 1).max() == 2
    assert regions(np.array([[0, 1], [1, 0]], np.uint8), 1).max() == 2  # 4-connected: a corner does not join
    merged = np.zeros_like(label)  # the membrane missed: the two 20-pixel cells become one region
    together = 20 ** 2 + 20 ** 2
    assert rand_error(label, merged, boundary_class=1) == pytest.approx(1 - 2 * together / (together + 40 ** 2))


def test_boundary_scores_of_a_confusion_matrix():
    cm = np.array([[30, 10], [5, 55]])  # boundary class 0
    scores = boundary_scores(cm, 0, [0.1, 0.3, math.nan])
    assert scores["pixel_error"] == pytest.approx(15 / 100)
    assert scores["foreground_iou"] == pytest.approx(30 / 45)
    assert scores["rand_error"] == pytest.approx(0.2)
