"""Property tests (hypothesis) of the metrics, the loss and the pooling layers."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from segpapers.common.layers import MaxPoolingWithArgmax2D, MaxUnpooling2D
from segpapers.common.losses import SegmentationCrossEntropy
from segpapers.common.metrics import confusion_matrix, segmentation_scores

K = 4
labels = hnp.arrays(np.int64, st.tuples(st.integers(1, 3), st.integers(1, 6), st.integers(1, 6)),
                    elements=st.integers(0, K - 1))


def scores(y_true, y_pred):
    result = segmentation_scores(confusion_matrix(y_true, y_pred, K))
    return {key: result[key] for key in ("pixel_accuracy", "mean_accuracy", "miou", "fwiou")}


def assert_same_scores(a, b):
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-9, equal_nan=True)


@given(labels, st.data())
def test_metrics_are_invariant_to_renaming_classes(y_true, data):
    y_pred = data.draw(hnp.arrays(np.int64, y_true.shape, elements=st.integers(0, K - 1)))
    permutation = np.array(data.draw(st.permutations(range(K))))
    assert_same_scores(scores(y_true, y_pred), scores(permutation[y_true], permutation[y_pred]))


@given(labels, st.data())
def test_ignored_pixels_change_no_metric_and_no_loss(y_true, data):
    y_pred = data.draw(hnp.arrays(np.int64, y_true.shape, elements=st.integers(0, K - 1)))
    ignored = data.draw(hnp.arrays(bool, y_true.shape))
    logits = data.draw(hnp.arrays(np.float32, (*y_true.shape, K), elements=st.floats(-5, 5, width=32)))
    other_pred = np.where(ignored, (y_pred + 1) % K, y_pred)  # predictions under ignored pixels differ
    masked = np.where(ignored, 255, y_true)
    cm = confusion_matrix(masked, y_pred, K)
    np.testing.assert_array_equal(cm, confusion_matrix(masked, other_pred, K))
    np.testing.assert_array_equal(cm, confusion_matrix(y_true[~ignored], y_pred[~ignored], K))
    loss = SegmentationCrossEntropy(K, class_weights=[1.0, 2.0, 0.5, 3.0])
    other_logits = np.where(ignored[..., None], -logits, logits)
    np.testing.assert_allclose(float(loss(masked, logits)), float(loss(masked, other_logits)), rtol=1e-5)


@given(st.lists(labels, min_size=1, max_size=4), st.data())
def test_confusion_matrix_of_concatenated_batches_is_the_sum(batches, data):
    predictions = [data.draw(hnp.arrays(np.int64, b.shape, elements=st.integers(0, K - 1))) for b in batches]
    total = sum(confusion_matrix(t, p, K) for t, p in zip(batches, predictions))
    flat = confusion_matrix(np.concatenate([b.ravel() for b in batches]),
                            np.concatenate([p.ravel() for p in predictions]), K)
    np.testing.assert_array_equal(total, flat)


@settings(deadline=None, max_examples=25)
@given(hnp.arrays(np.float32, st.tuples(st.integers(1, 2), st.integers(1, 7), st.integers(1, 7), st.integers(1, 3)),
                  # TF's CPU kernels flush subnormals to zero
                  elements=st.floats(-100, 100, width=32, allow_subnormal=False)))
def test_unpooling_the_pooled_map_keeps_every_window_maximum_in_place(x):
    pooled, switches = MaxPoolingWithArgmax2D()(x)
    restored = np.asarray(MaxUnpooling2D(x.shape[1:3])(pooled, switches))
    pooled = np.asarray(pooled)
    for i in range(0, x.shape[1], 2):
        for j in range(0, x.shape[2], 2):
            window = x[:, i:i + 2, j:j + 2].reshape(x.shape[0], -1, x.shape[3])
            kept = restored[:, i:i + 2, j:j + 2].reshape(window.shape).copy()
            first_max = np.argmax(window, axis=1)[:, None]  # row-major, first of any ties
            np.testing.assert_array_equal(np.take_along_axis(kept, first_max, 1), window.max(axis=1, keepdims=True))
            np.put_along_axis(kept, first_max, 0, 1)
            assert not kept.any()  # everything else is zero
            np.testing.assert_array_equal(pooled[:, i // 2, j // 2], window.max(axis=1))
