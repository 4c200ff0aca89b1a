"""VGG16's classifier as convolutions: the "convolutionalization" of FCN sec. 3.1, Fig. 2.

A fully connected layer over a k x k x C map is a k x k convolution that covers its whole input;
on a larger map the convolution slides and yields a map of class scores. The reference does the
same with `surgery.transplant` (Caffe's O x I weights copied into O x I x H x W).
"""
from segpapers.common.vgg import load_vgg16_weights

# Keras VGG16's classifier -> FCN's layers: (kernel size, input channels) of the convolution.
CLASSIFIER = {"fc1": ("fc6", 7, 512), "fc2": ("fc7", 1, 4096)}


def convolutionalize(dense_kernel, dense_bias, kernel_size, in_channels):
    """[kernel, bias] of the convolution equal to a Dense layer over a flattened map.

    Keras flattens a channels-last (kernel_size, kernel_size, in_channels) map row by row, channels
    fastest, which is exactly the row-major order of a (kh, kw, in, out) conv kernel.
    """
    return [dense_kernel.reshape(kernel_size, kernel_size, in_channels, -1), dense_bias]


def load_vgg16_fcn_weights(model, path):
    """VGG16's conv layers into conv1_1..conv5_3, and its fc1/fc2 into fc6/fc7 if the file has the top."""
    weights = load_vgg16_weights(model, path)
    for dense, (conv, kernel_size, in_channels) in CLASSIFIER.items():
        if dense in weights:
            model.get_layer(conv).set_weights(convolutionalize(*weights[dense], kernel_size, in_channels))
