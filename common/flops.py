"""FLOPs per image of a Keras model, counted from its layers' static shapes.

Counts 2 FLOPs per multiply-add of convolutions, transposed convolutions and dense layers, the
convention behind the ENet paper's comparison (SegNet 286 GFLOPs, which this count matches at
640x360 inputs: tests/test_flops.py); batch norm, activations, pooling and unpooling are
memory-bound and left out.
"""
import math

import keras


def _spatial(shape):
    return math.prod(shape[1:-1])


def layer_flops(layer):
    if isinstance(layer, keras.layers.Conv2DTranspose):
        in_channels = layer.input.shape[-1]
        return 2 * math.prod(layer.kernel_size) * in_channels * layer.filters * _spatial(layer.input.shape)
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        channels = layer.input.shape[-1]
        return 2 * math.prod(layer.kernel_size) * channels * layer.depth_multiplier * _spatial(layer.output.shape)
    if isinstance(layer, keras.layers.Conv2D):
        in_channels = layer.input.shape[-1] // layer.groups
        return 2 * math.prod(layer.kernel_size) * in_channels * layer.filters * _spatial(layer.output.shape)
    if isinstance(layer, keras.layers.Dense):
        return 2 * layer.input.shape[-1] * layer.units * math.prod(layer.input.shape[1:-1])
    return 0


def count_flops(model):
    """FLOPs for one image at the model's (static) input size."""
    if None in model.input_shape[1:]:
        raise ValueError(f"{model.name}: FLOPs need a static input size, got {model.input_shape}")
    return sum(layer_flops(layer) for layer in model.layers)
