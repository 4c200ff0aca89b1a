import builtins

import numpy as np
import pytest

from segpapers.common import crf
from segpapers.common.crf import CrfPool, CrfParams, dense_crf
from segpapers.common.metrics import confusion_matrix, segmentation_scores


def synthetic_case(seed=0, height=60, width=80):
    """A clean 3-class label map, an image whose colours follow it, and probabilities that are
    blurred across the boundaries and noisy, as a network's "blobby" output is."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    labels = (x >= width // 2).astype(np.int64)
    labels[(y - height / 2) ** 2 + (x - width / 4) ** 2 < (height / 5) ** 2] = 2
    colours = np.array([[200, 40, 40], [40, 200, 40], [40, 40, 200]])
    image = np.clip(colours[labels] + rng.normal(0, 10, (height, width, 3)), 0, 255).astype(np.uint8)
    one_hot = np.eye(3)[labels]
    kernel = 15  # box blur: boundaries lose 7 px of certainty on each side
    padded = np.pad(one_hot, ((kernel // 2,) * 2, (kernel // 2,) * 2, (0, 0)), mode="edge")
    blurred = sum(padded[i:i + height, j:j + width] for i in range(kernel) for j in range(kernel)) / kernel ** 2
    noisy = blurred + rng.uniform(0, 0.6, blurred.shape)
    return image, (noisy / noisy.sum(-1, keepdims=True)).astype(np.float32), labels


def miou(labels, predicted):
    return segmentation_scores(confusion_matrix(labels, predicted, 3))["miou"]


def test_crf_raises_iou_on_blurred_noisy_probabilities():
    image, probs, labels = synthetic_case()
    before = miou(labels, probs.argmax(-1))
    refined = dense_crf(image, probs, **CrfParams(iterations=5).to_dict())
    after = miou(labels, refined.argmax(-1))
    assert refined.shape == probs.shape and refined.dtype == np.float32
    np.testing.assert_allclose(refined.sum(-1), 1.0, atol=1e-4)
    assert after > before + 0.05, (before, after)


@pytest.mark.parametrize("image, probs, message", [
    (np.zeros((4, 5, 3), np.float32), np.full((4, 5, 2), 0.5, np.float32), "uint8"),
    (np.zeros((4, 5), np.uint8), np.full((4, 5, 2), 0.5, np.float32), "H x W x 3"),
    (np.zeros((4, 5, 3), np.uint8), np.full((4, 6, 2), 0.5, np.float32), "resize the probabilities"),
    (np.zeros((4, 5, 3), np.uint8), np.full((4, 5, 2), 3.0, np.float32), "not logits"),
    (np.zeros((4, 5, 3), np.uint8), np.full((4, 5, 2), 0.2, np.float32), "sum to 1"),
    (np.zeros((4, 5, 3), np.uint8), np.ones((4, 5, 1), np.float32), "at least 2 classes"),
])
def test_invalid_inputs_are_refused_clearly(image, probs, message):
    with pytest.raises(ValueError, match=message):
        dense_crf(image, probs)


def test_unknown_parameters_are_refused():
    image, probs, _ = synthetic_case()
    with pytest.raises(ValueError, match="unknown CRF parameters"):
        dense_crf(image, probs, bilateral_sigma=3)


def test_read_only_inputs_are_handled():
    image, probs, _ = synthetic_case()
    image.flags.writeable = probs.flags.writeable = False  # as np.asarray of a Pillow image is
    assert dense_crf(image, probs, iterations=1).shape == probs.shape


def test_non_contiguous_inputs_are_handled():
    image, probs, _ = synthetic_case()
    flipped_image, flipped_probs = image[:, ::-1], probs[:, ::-1]
    np.testing.assert_allclose(dense_crf(flipped_image, flipped_probs, iterations=2),
                               dense_crf(flipped_image.copy(), flipped_probs.copy(), iterations=2))


def test_parallel_and_serial_results_are_identical():
    cases = [synthetic_case(seed) for seed in range(3)]
    params = CrfParams(iterations=3)
    with CrfPool(params, workers=1) as serial, CrfPool(params, workers=2) as parallel:
        serial_labels = [serial.submit(image, probs).result()[0] for image, probs, _ in cases]
        parallel_labels = [parallel.submit(image, probs).result()[0] for image, probs, _ in cases]
    for a, b in zip(serial_labels, parallel_labels):
        np.testing.assert_array_equal(a, b)


def test_missing_module_says_how_to_install(monkeypatch):
    real_import = builtins.__import__

    def no_pydensecrf(name, *args, **kwargs):
        if name.startswith("pydensecrf"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pydensecrf)
    image, probs, _ = synthetic_case()
    with pytest.raises(ImportError, match="pip install pydensecrf2"):
        crf.dense_crf(image, probs)
