"""The VGG16 encoder shared by FCN, DeconvNet and SegNet, and loading of Keras' VGG16 weights.

Simonyan & Zisserman, "Very Deep Convolutional Networks", configuration D: 13 3x3 convolutions in
five stages. ImageNet weights cannot be downloaded on the machines this project targets, so models
train from random init unless a local Keras VGG16 weights file is given (the `.h5` that
`keras.applications.VGG16` downloads, or a `.weights.h5` saved by Keras 3).
"""
import keras
import numpy as np

from segpapers.common.layers import MaxPoolingWithArgmax2D, conv_bn_relu

# Channels of conv{stage}_{i}, stage by stage (VGG16 configuration D).
VGG16_STAGES = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))

# Keras' VGG16 weights come from Caffe: BGR input minus this mean. Models take RGB in 0..255,
# subtract the mean in RGB order, and `load_vgg16_weights` flips conv1_1's input channels.
IMAGENET_MEAN_RGB = (123.68, 116.779, 103.939)


def imagenet_mean_subtraction(inputs):
    return keras.layers.Normalization(mean=IMAGENET_MEAN_RGB, variance=(1.0, 1.0, 1.0), name="mean_subtraction")(inputs)


def vgg16_bn_encoder(x):
    """VGG16's conv layers with batch norm and ReLU (`conv{s}_{i}`), each stage ending in 2x2
    max-pooling that keeps its switches (`pool{s}`), as SegNet and DeconvNet use it.

    Returns the pool5 output and, per stage, (switches, size before pooling) for the unpooling.
    """
    pooled = []
    for stage, widths in enumerate(VGG16_STAGES, start=1):
        for i, filters in enumerate(widths, start=1):
            x = conv_bn_relu(x, filters, 3, f"conv{stage}_{i}")
        size = tuple(x.shape[1:3])
        x, switches = MaxPoolingWithArgmax2D(name=f"pool{stage}")(x)
        pooled.append((switches, size))
    return x, pooled


def read_vgg16_weights(path):
    """Returns {keras layer name: [kernel, bias]} from a Keras VGG16 weights file, with or without the top."""
    errors = []
    # Top first: Keras loads a file with the classifier into the headless model without complaint.
    for include_top in (True, False):
        vgg = keras.applications.VGG16(weights=None, include_top=include_top)
        try:
            vgg.load_weights(path)
        except ValueError as error:
            errors.append(f"include_top={include_top}: {error}")
            continue
        return {layer.name: layer.get_weights() for layer in vgg.layers if layer.get_weights()}
    raise ValueError(f"{path} is not a Keras VGG16 weights file:\n" + "\n".join(errors))


def load_vgg16_weights(model, path):
    """Copies VGG16's 13 conv layers (`block{s}_conv{i}`) into the model's `conv{s}_{i}` layers.

    Returns everything read from the file (FCN also converts the classifier's fc1/fc2).
    """
    weights = read_vgg16_weights(path)
    for stage, widths in enumerate(VGG16_STAGES, start=1):
        for i in range(1, len(widths) + 1):
            kernel, bias = weights[f"block{stage}_conv{i}"]
            if (stage, i) == (1, 1):
                kernel = kernel[:, :, ::-1, :]  # BGR -> RGB
            model.get_layer(f"conv{stage}_{i}").set_weights([np.ascontiguousarray(kernel), bias])
    return weights
