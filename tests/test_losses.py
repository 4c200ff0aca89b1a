import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from segpapers.common.losses import SegmentationCrossEntropy

NUM_CLASSES = 4
CLASS_WEIGHTS = [0.5, 1.0, 2.0, 4.0]


def reference_loss(labels, logits, class_weights, normalization, ignore_label=255):
    """Weighted cross-entropy summed pixel by pixel from a hand-written log-softmax."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    total = weight_sum = labelled = 0.0
    for index in np.ndindex(labels.shape):
        label = labels[index]
        if label == ignore_label:
            continue
        weight = 1.0 if class_weights is None else class_weights[label]
        total += -weight * log_softmax[index][label]
        weight_sum += weight
        labelled += 1
    return {"valid": total / labelled, "weights": total / weight_sum, "none": total}[normalization]


def random_batch(seed=0, shape=(2, 5, 6)):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, NUM_CLASSES, size=shape)
    labels[rng.random(shape) < 0.3] = 255
    logits = rng.normal(scale=3.0, size=shape + (NUM_CLASSES,)).astype("float32")
    return labels, logits


@pytest.mark.parametrize("normalization", ["valid", "weights", "none"])
@pytest.mark.parametrize("class_weights", [None, CLASS_WEIGHTS])
def test_matches_numpy_reference(normalization, class_weights):
    labels, logits = random_batch()
    loss = SegmentationCrossEntropy(NUM_CLASSES, class_weights, normalization=normalization)
    expected = reference_loss(labels, logits.astype(np.float64), class_weights, normalization)
    assert float(loss(labels, logits)) == pytest.approx(expected, rel=1e-5)
    assert float(loss(labels[..., None], logits)) == pytest.approx(expected, rel=1e-5)


def test_weights_normalization_without_weights_equals_valid():
    labels, logits = random_batch()
    valid = SegmentationCrossEntropy(normalization="valid")(labels, logits)
    weights = SegmentationCrossEntropy(normalization="weights")(labels, logits)
    assert float(valid) == pytest.approx(float(weights), rel=1e-6)


def gradient(loss, labels, logits):
    logits = tf.constant(logits)
    with tf.GradientTape() as tape:
        tape.watch(logits)
        value = loss(labels, logits)
    return value, tape.gradient(value, logits).numpy()


@pytest.mark.parametrize("normalization", ["valid", "weights", "none"])
def test_ignored_pixels_have_exactly_zero_gradient(normalization):
    labels, logits = random_batch()
    loss = SegmentationCrossEntropy(NUM_CLASSES, CLASS_WEIGHTS, normalization=normalization)
    _, grad = gradient(loss, labels, logits)
    ignored = labels == 255
    assert np.all(grad[ignored] == 0.0)
    assert np.all(np.abs(grad[~ignored]).sum(axis=-1) > 0)


@pytest.mark.parametrize("normalization", ["valid", "weights", "none"])
def test_all_ignored_batch_gives_zero_and_finite_gradient(normalization):
    labels = np.full((1, 3, 3), 255)
    logits = np.random.default_rng(0).normal(size=(1, 3, 3, NUM_CLASSES)).astype("float32")
    loss = SegmentationCrossEntropy(NUM_CLASSES, CLASS_WEIGHTS, normalization=normalization)
    value, grad = gradient(loss, labels, logits)
    assert float(value) == 0.0
    assert np.all(grad == 0.0)


def test_half_precision_logits_are_computed_in_float32():
    labels, logits = random_batch()
    half = tf.cast(logits, tf.bfloat16)
    loss = SegmentationCrossEntropy(NUM_CLASSES, CLASS_WEIGHTS)
    value = loss(labels, half)
    assert value.dtype == tf.float32
    expected = reference_loss(labels, half.numpy().astype(np.float64), CLASS_WEIGHTS, "valid")
    assert float(value) == pytest.approx(expected, rel=1e-5)


def test_config_round_trip():
    loss = SegmentationCrossEntropy(NUM_CLASSES, CLASS_WEIGHTS, ignore_label=11,
                                    normalization="none")
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(restored, SegmentationCrossEntropy)
    assert restored.get_config() == loss.get_config()


def test_invalid_arguments_raise():
    with pytest.raises(ValueError, match="normalization"):
        SegmentationCrossEntropy(normalization="mean")
    with pytest.raises(ValueError, match="3 class weights given for 4 classes"):
        SegmentationCrossEntropy(4, class_weights=[1.0, 2.0, 3.0])


def test_trains_in_compiled_model():
    labels, _ = random_batch()
    images = np.random.default_rng(1).normal(size=labels.shape + (3,)).astype("float32")
    inputs = keras.Input(images.shape[1:])
    model = keras.Model(inputs, keras.layers.Conv2D(NUM_CLASSES, 1)(inputs))
    loss = SegmentationCrossEntropy(NUM_CLASSES, CLASS_WEIGHTS)
    model.compile(optimizer="sgd", loss=loss)
    expected = float(loss(labels, model(images)))
    history = model.fit(images, labels, batch_size=len(images), epochs=1, verbose=0)
    # With one full batch, the logged loss is the loss before the update.
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-5)


def test_per_pixel_sample_weights_from_the_batches_multiply_each_pixel_loss():
    """U-Net's eq. 2 map reaches the loss as fit's sample weight: sum(w x pixel loss) / labelled."""
    labels, logits = random_batch()
    pixel_weights = np.random.default_rng(2).uniform(0.5, 10.0, labels.shape).astype("float32")
    inputs = keras.Input(logits.shape[1:])
    model = keras.Model(inputs, keras.layers.Identity()(inputs))
    model.compile(loss=SegmentationCrossEntropy(NUM_CLASSES))
    batches = tf.data.Dataset.from_tensors((logits, labels, pixel_weights))
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    labelled = labels != 255
    pixel_loss = -np.take_along_axis(log_softmax, np.where(labelled, labels, 0)[..., None], -1)[..., 0]
    expected = (pixel_weights * pixel_loss)[labelled].sum() / labelled.sum()
    assert model.evaluate(batches, verbose=0) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("normalization", ["valid", "weights", "none"])
def test_a_step_on_two_replicas_equals_the_step_on_one_device(normalization):
    script = Path(__file__).with_name("distributed_step.py")
    done = subprocess.run([sys.executable, str(script), normalization], cwd=script.parents[1], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert float(done.stdout.split()[-1]) < 1e-5  # float32 rounding; a wrong normalisation is ~1e-2
