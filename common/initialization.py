"""Initialisations of the reference frameworks, for recipes whose reference code kept their defaults.

The Caffe prototxts name their fillers (He's "msra", Gaussian), and the model builders use them. e-lab's
Torch7 ENet (models/encoder.lua, decoder.lua) names none: every module keeps the draw of its `reset()` in
torch/nn, the framework e-lab trained with:
- SpatialConvolution (its dilated and cudnn forms too): kernel and bias from U(-s, s), s = 1 / sqrt(kW kH
  nInputPlane);
- SpatialFullConvolution (transposed): the same s, nInputPlane being the channels it takes in;
- BatchNormalization: scale from U[0, 1], shift 0;
- PReLU: slopes 0.25, the builders' value already.
"""
import math

import keras
import numpy as np


def initialize(model, initialization, seed):
    """Applies a schedule's `initialization` (common.schedule.INITIALIZATIONS) to a freshly built `model`:
    "builder" keeps the builder's draws, "torch7" re-draws them as Torch7 does (`torch7_reset`)."""
    if initialization == "torch7":
        torch7_reset(model, np.random.default_rng(seed))


def torch7_reset(model, rng):
    """Re-draws the convolutions and batch norms of `model` as Torch7's `reset()` draws them, from the numpy
    Generator `rng`; returns the names of the layers drawn. A layer with weights of another kind raises: its
    Torch7 draw is not written here, and half a reset is no reference's."""
    drawn = []
    for layer in _layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            if getattr(layer, "gamma", None) is not None:
                layer.gamma.assign(rng.uniform(0.0, 1.0, layer.gamma.shape).astype("float32"))
            if getattr(layer, "beta", None) is not None:
                layer.beta.assign(np.zeros(layer.beta.shape, "float32"))
        elif isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose)):
            # Keras' kernels: (kh, kw, in, out), transposed (kh, kw, out, in).
            height, width, *channels = layer.kernel.shape
            taken_in = channels[1] if isinstance(layer, keras.layers.Conv2DTranspose) else channels[0]
            bound = 1.0 / math.sqrt(height * width * taken_in)
            for variable in (layer.kernel, getattr(layer, "bias", None)):
                if variable is None:
                    continue
                variable.assign(rng.uniform(-bound, bound, variable.shape).astype("float32"))
        elif isinstance(layer, keras.layers.PReLU) or not layer.weights:
            continue  # PReLU: the builders start at Torch7's 0.25
        else:
            raise ValueError(f"torch7_reset: no Torch7 draw for {layer.name!r} ({type(layer).__name__})")
        drawn.append(layer.name)
    return drawn


def _layers(model):
    for layer in model.layers:
        yield from _layers(layer) if isinstance(layer, keras.Model) else (layer,)
