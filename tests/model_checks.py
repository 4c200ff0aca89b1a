"""Checks every model's test module runs, as keras-hub's `run_vision_backbone_test` and
`run_model_saving_test` do: one helper here, one-line tests in tests/test_<paper>.py.

`TINY` is each registered model on an input size it accepts and options that keep it small.
"""

import keras
import numpy as np
import tensorflow as tf

from segpapers import papers

TINY = {
    "deconvnet": ((224, 224), {"fc_channels": 16}),
    "enet": ((32, 32), {}),
    "fcn16s": ((32, 32), {"fc_channels": 16}),
    "fcn32s": ((32, 32), {"fc_channels": 16}),
    "fcn8s": ((32, 32), {"fc_channels": 16}),
    "segnet": ((32, 32), {}),
    "segnet_basic": ((32, 32), {}),
    "unet": ((188, 188), {"base_filters": 8}),
    "unet_same": ((32, 32), {"base_filters": 8}),
}


# train.py flags of the tests' tiny runs: the synthetic dataset at 32x32, in float32 whatever the protocol
# (their comparisons' tolerances are float32's, and bfloat16 is slow on a CPU without bfloat16 units).
TINY_RUN = ["--dataset", "synthetic", "--input-size", "32x32", "--batch-size", "4", "--verbose", "0",
            "--precision", "float32"]


def tiny_model(name, num_classes=3, size=None, **options):
    """`name` in its `TINY` configuration; `size` and `options` override it."""
    tiny_size, tiny_options = TINY[name]
    return papers.build_model(name, num_classes, (*(size or tiny_size), 3), **{**tiny_options, **options})


def images(size, batch=2, seed=0):
    """A batch of random RGB images with values 0..255, as the loaders give them."""
    return np.random.default_rng(seed).uniform(0, 255, (batch, *size, 3)).astype("float32")


def infer(model, x):
    """An eager inference call: quicker than tracing `predict` for one small batch."""
    return keras.ops.convert_to_numpy(model(x, training=False))


def trainable_params(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def conv_params(model):
    """Weights and biases of the (transposed) convolutions: what a Caffe prototxt's layers count."""
    return sum(w.size for layer in model.layers
               if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose)) for w in layer.get_weights())


def check_parameter_count(count, expected, paper, tolerance, source):
    """`count` is exactly our tally `expected`, and within `tolerance` (a fraction) of the `paper`'s
    figure, quoted by `source`."""
    assert count == expected, f"{count:,} parameters, expected {expected:,}"
    assert abs(count - paper) <= tolerance * paper, f"{count:,} parameters, {source} gives {paper:,.0f}"


def check_forward(model, expected_output_shape, size=None):
    """Inference on a batch of random images (of `size` where the model takes any) gives finite
    float32 logits of `expected_output_shape`, whose first dimension is the batch."""
    batch, *output_shape = expected_output_shape
    if size is None:
        size = model.input_shape[1:3]
        assert model.output_shape == (None, *output_shape), f"output shape {model.output_shape}"
    logits = infer(model, images(size, batch))
    assert logits.shape == tuple(expected_output_shape), f"logits of shape {logits.shape}"
    assert logits.dtype == np.float32, f"logits of type {logits.dtype}"
    assert np.isfinite(logits).all(), "logits that are not finite"
    return logits


def check_gradients(model, layers=None, seed=0):
    """One training-mode step on random images and labels gives finite gradients, non-zero for every
    trainable weight, or for those of `layers` where the others start without one by design."""
    with tf.GradientTape() as tape:
        logits = model(images(model.input_shape[1:3], seed=seed), training=True)
        labels = np.random.default_rng(seed).integers(0, logits.shape[-1], logits.shape[:-1])
        loss = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    gradients = dict(zip((w.path for w in model.trainable_weights), tape.gradient(loss, model.trainable_weights)))
    not_finite = [path for path, g in gradients.items() if g is not None and not np.isfinite(g).all()]
    assert not not_finite, f"gradients that are not finite: {not_finite}"
    required = model.trainable_weights if layers is None else [
        w for name in layers for w in model.get_layer(name).trainable_weights]
    assert required, f"no trainable weights in {layers}"
    missing = [w.path for w in required if gradients[w.path] is None or not np.any(gradients[w.path])]
    assert not missing, f"weights without a gradient: {missing}"


def check_save_load(model, tmp_path, tolerance=1e-5):
    """A `.keras` round trip, loaded in safe mode, predicts what the model does; returns the loaded model."""
    path = tmp_path / f"{model.name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True, compile=False)
    x = images(model.input_shape[1:3], seed=1)
    np.testing.assert_allclose(infer(loaded, x), infer(model, x), rtol=tolerance, atol=tolerance)
    return loaded
