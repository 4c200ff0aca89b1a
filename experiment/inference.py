"""Inference every entry point shares: loading a checkpoint, the compiled forward pass, and the
predictor that maps original images to class ids at their own size (resized or by overlap-tiles).

The predictor's image ops (resize, rotations, softmax) are TensorFlow's on every Keras backend. The
network runs as its backend compiles it: a `tf.function` (XLA by default) under TensorFlow, Keras'
own predict step under JAX (jit-compiled) and PyTorch, with the image ops around it run eagerly.
"""
from pathlib import Path

import numpy as np
import tensorflow as tf

from segpapers import papers  # noqa: F401  (registers the custom layers so checkpoints load in safe mode)
from segpapers.common import checkpoints, results
from segpapers.common.backends import on_tensorflow
from segpapers.common.errors import UserError
from segpapers.common.tiling import overlap_tile_predict


def load_checkpoint(path, as_trained=False):
    """Loads a `.keras` checkpoint in safe mode (`checkpoints.load_model`: float32 compute for a
    bfloat16 model where bfloat16 would be emulated, unless `as_trained`), with the run config
    written next to it (or {})."""
    return checkpoints.load_model(path, as_trained), run_config(path)


def run_config(checkpoint):
    """The run config train.py wrote next to `checkpoint`, or {} if there is none."""
    path = Path(checkpoint).with_name("config.json")
    return results.read_run_config(path) if path.exists() else {}


def data_of(config, dataset=None, data_dir=None):
    """(dataset, data dir) to score a checkpoint on: the given ones, else its run's."""
    dataset = dataset or config.get("dataset")
    if not dataset:
        raise UserError("--dataset is required: the checkpoint has no config.json naming its dataset")
    return dataset, data_dir or (config.get("data_dir") if dataset == config.get("dataset") else None)


# The models whose batch-1 inference on TensorFlow is faster compiled whole by XLA, which fuses their
# element-wise ops; the others run faster as TensorFlow's graph, whose oneDNN convolutions XLA's own do
# not beat. Measured: results/benchmarks/speed.json, each model's float32 inference with and without
# XLA in one run (tests/test_speed.py holds this set to that file).
XLA_FASTER = frozenset({"enet", "fcn8s", "fcn16s", "fcn32s", "segnet", "unet_same"})


def default_xla(model_name):
    """Whether evaluate.py and predict.py compile `model_name`'s forward pass with XLA by default."""
    return model_name in XLA_FASTER


def uses_xla(model, xla=None):
    """`xla`, or where None the measured faster path for `model` (`default_xla`)."""
    return default_xla(model.name) if xla is None else bool(xla)


def forward_pass(model, xla=None):
    """The network's compiled inference pass: images -> float32 logits (benchmarks.speed times it), with
    the weights `model` has at its first call for each input shape. On TensorFlow the graph carries the
    weights as constants (`frozen_logits`) and `xla` compiles it whole with XLA (None: `default_xla`);
    JAX always compiles with XLA, PyTorch runs eagerly."""
    if not on_tensorflow():
        return lambda x: tf.convert_to_tensor(model.predict_on_batch(np.asarray(x)), tf.float32)
    jit_compile = uses_xla(model, xla) or None
    compiled = {}

    def logits(images):
        images = tf.convert_to_tensor(images)
        spec = tf.TensorSpec(images.shape, images.dtype)
        if spec not in compiled:
            compiled[spec] = tf.function(frozen_logits(model, spec), jit_compile=jit_compile)
        return compiled[spec](images)

    return logits


def frozen_logits(model, spec):
    """TensorFlow only: `model`'s float32 logits for inputs of `spec` as a graph whose variables are frozen
    into constants, which lets grappler and XLA fold what depends on weights alone and oneDNN keep a
    convolution's filter in its own layout between calls. Measured against the same pass over variables
    (`python -m benchmarks.code_ab`, batch 1, paper sizes): ENet with XLA 0.85x (rounds 0.76-0.95,
    results/benchmarks/code_ab_frozen_xla.json), U-Net's graph level within its rounds (1.02x, 0.91-1.18,
    code_ab_frozen_graph.json)."""
    # TensorFlow's converter, the one its own exporters use; not in the public API.
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    with tf.init_scope():  # also when first called inside another function's trace (`predictor`)
        traced = tf.function(lambda x: tf.cast(model(x, training=False), tf.float32)).get_concrete_function(spec)
        frozen = convert_variables_to_constants_v2(traced)
    return lambda images: frozen(images)[0]


# The square's symmetries as (quarter turns, flip first): the identity, then the three rotations,
# then the four flipped ones. U-Net (sec. 4) averaged "over 7 rotated versions of the input data".
SYMMETRIES = ((0, False), (1, False), (2, False), (3, False), (0, True), (1, True), (2, True), (3, True))


def _transformed(images, turns, flip):
    images = tf.reverse(images, [2]) if flip else images
    return tf.image.rot90(images, turns)


def _restored(maps, turns, flip):
    maps = tf.image.rot90(maps, -turns % 4)
    return tf.reverse(maps, [2]) if flip else maps


def predictor(model, tiles=False, xla=None, symmetries=1):
    """A function: original images -> (class ids, softmax probabilities) at their own size.

    A model whose output has its input's size runs on the image resized to its input size (when
    fixed), and its logits are resized bilinearly back to the image (= label) size. A model with
    unpadded convolutions, whose output is its input less a border (U-Net), predicts the image
    by overlap-tiles with mirrored context instead (`common.tiling`), and so does any model with
    `tiles`: one trained on random crops sees test images at their own scale, tile by tile.
    `symmetries` > 1 averages the probabilities over that many of the image's rotated and flipped
    versions (`SYMMETRIES`), each mapped back before averaging.
    `xla` compiles the network's forward pass whole with XLA (None: where that is the faster path
    for this model, `default_xla`): the same predictions up to float rounding (tests/test_predict.py),
    compiled once per input shape.
    """
    if not 1 <= symmetries <= len(SYMMETRIES):
        raise UserError(f"symmetries={symmetries}: between 1 (the image as it is) and {len(SYMMETRIES)}")
    input_size, output_size = model.input_shape[1:3], model.output_shape[1:3]
    logits_of = forward_pass(model, xla)

    def resized_logits(images):
        inputs = images if None in input_size else tf.image.resize(images, input_size)
        return tf.image.resize(logits_of(inputs), tf.shape(images)[1:3])

    if on_tensorflow():  # one graph with the network's; other backends' networks run outside TF graphs
        resized_logits = tf.function(resized_logits, reduce_retracing=True)

    def tiled_logits(images):
        return np.stack([overlap_tile_predict(lambda batch: logits_of(batch).numpy(), image, input_size, output_size)
                         for image in images.numpy()])

    logits_at_size = tiled_logits if by_tiles(model, tiles) else resized_logits

    def predict(images):
        probabilities = 0
        for turns, flip in SYMMETRIES[:symmetries]:
            logits = logits_at_size(_transformed(images, turns, flip))
            probabilities += _restored(tf.nn.softmax(logits), turns, flip)
        probabilities /= symmetries
        return tf.argmax(probabilities, axis=-1, output_type=tf.int32), probabilities

    return predict


def test_time_symmetries(config):
    """How many symmetries a run config's schedule averages its predictions over (1 = none)."""
    return int(config.get("schedule", {}).get("test_time_symmetries", 1))


def check_classes(model, info):
    num_outputs = model.output_shape[-1]
    if num_outputs != info.num_classes:
        raise UserError(f"the checkpoint predicts {num_outputs} classes but dataset {info.name!r} has "
                         f"{info.num_classes} ({', '.join(info.class_names)})")


def by_tiles(model, tiles):
    """Whether `predictor` tiles: asked to, or the model's output is smaller than its input."""
    return tiles or model.input_shape[1:3] != model.output_shape[1:3]


def trained_on_crops(config):
    """Whether a run config's model learnt from random crops, and so should predict by tiles."""
    return bool(config.get("schedule", {}).get("crop_size"))
