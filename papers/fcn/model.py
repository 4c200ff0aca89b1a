"""FCN-32s, FCN-16s and FCN-8s.

Long, Shelhamer, Darrell, "Fully Convolutional Networks for Semantic Segmentation", CVPR 2015.
Layer names follow the reference implementation, fcn.berkeleyvision.org `voc-fcn{32,16,8}s/net.py`.

- Sec. 3.1, 4.1: VGG16 "convolutionalized": the 13 conv + ReLU layers, 2x2 max-pooling, fc6 as a
  7x7 convolution to 4096 channels and fc7 as a 1x1 one, each with ReLU and dropout 0.5, then a
  zero-initialised 1x1 `score_fr` to the classes (sec. 4.3).
- Sec. 3.3, 4.2, Fig. 3: scores are upsampled by transposed convolutions initialised to bilinear
  interpolation. FCN-16s fuses (sums) a 2x upsampling of the stride-32 scores with 1x1 scores of
  pool4; FCN-8s then does the same with pool3. The skip scores are zero-initialised so a finer net
  starts with its coarser parent's predictions. As in the paper (sec. 4.3, "Dense Prediction"), the
  final upsampling is fixed and the intermediate 2x ones are learned; the reference repository
  fixes those too (its README: no significant difference).
- As in the reference, conv1_1 pads its input by 100 pixels so the coarse scores cover any input,
  and Caffe-style crops at the reference's offsets (`caffe.coord_map.crop`) realign each skip and the
  final scores with the image: the output has the input's size for any size. Pooling is Caffe's
  ceil mode (a 2x2 window at an odd edge covers one row), which 'same' max-pooling matches.
- `at_once`: voc-fcn8s-atonce scales pool4 by 0.01 and pool3 by 1e-4 before scoring them, so all
  streams can be learned at once from VGG16 instead of one stride after the other.

Deviations: random (He normal) init instead of ImageNet VGG16 unless `backbone_weights` is given
(`convert.py` turns VGG16's fc1/fc2 into fc6/fc7 when the file has them); the input is mean-subtracted in RGB by
the Keras VGG16 mean rather than in BGR by the reference's; no per-layer learning-rate multipliers
(the paper doubles the biases' rate).
"""
import functools

import keras
from keras import ops

from segpapers.common.layers import he_normal, PACKAGE
from segpapers.common.upsampling import bilinear_upsampling
from segpapers.common.vgg import VGG16_STAGES, imagenet_mean_subtraction
from segpapers.papers.fcn.convert import load_vgg16_fcn_weights

# VOC images are at most 500x500 (the reference's largest input; Table 1 times a 500x500 input).
INPUT_SHAPE = (500, 500, 3)

# The skips, coarse to fine: the pooled features scored, the 2x upsampling of the coarser scores
# they are fused with, the reference's crop offset of their scores and voc-fcn8s-atonce's scale.
SKIPS = (("pool4", "upscore2", 5, 0.01), ("pool3", "upscore_pool4", 9, 1e-4))
# Output stride -> skips used, name of the final (fixed) upsampling, offset of the final crop.
# Offsets follow from the layers' kernels, strides and pads alone, whatever the input size.
HEADS = {32: (0, "upscore", 19), 16: (1, "upscore16", 27), 8: (2, "upscore8", 31)}


@keras.saving.register_keras_serializable(package=PACKAGE)
class Crop(keras.layers.Layer):
    """Caffe's Crop layer: `scores` cut to `reference`'s height and width from (offset, offset).

    Works on dynamic shapes, so a model built with `input_shape=(None, None, 3)` takes any size.
    """

    def __init__(self, offset, **kwargs):
        super().__init__(**kwargs)
        self.offset = offset

    def call(self, scores, reference):
        height, width = ops.shape(reference)[1], ops.shape(reference)[2]
        return scores[:, self.offset:self.offset + height, self.offset:self.offset + width, :]

    def compute_output_shape(self, scores_shape, reference_shape):
        return (scores_shape[0], reference_shape[1], reference_shape[2], scores_shape[3])

    def get_config(self):
        return {**super().get_config(), "offset": self.offset}


def conv_relu(x, filters, kernel_size, name, padding="same"):
    return keras.layers.Conv2D(filters, kernel_size, padding=padding, activation="relu",
                               kernel_initializer=he_normal(), name=name)(x)


def score(x, num_classes, name):
    """1x1 class scores, zero-initialised (sec. 4.3; Caffe's default filler in the reference)."""
    return keras.layers.Conv2D(num_classes, 1, kernel_initializer="zeros", name=name)(x)


def build_fcn(num_classes, input_shape=INPUT_SHAPE, stride=8, at_once=False, fc_channels=4096, backbone_weights=None):
    """FCN-{stride}s; `backbone_weights`: optional local Keras VGG16 weights file (with or without top).

    `fc_channels`: width of fc6/fc7, VGG16's 4096 (which its fc weights need); narrower nets are for
    quick checks (fc6 alone holds 103M of the 134M parameters).
    """
    if stride not in HEADS:
        raise ValueError(f"stride must be one of {sorted(HEADS)}, got {stride}")
    num_skips, upscore_name, final_offset = HEADS[stride]
    if at_once and not num_skips:
        raise ValueError("at_once scales the pool4/pool3 skips, which FCN-32s does not have")
    inputs = keras.Input(input_shape, name="image")
    x = imagenet_mean_subtraction(inputs)
    x = keras.layers.ZeroPadding2D(100, name="conv1_1_pad")(x)  # the reference's conv1_1 pad=100
    pools = {}
    for stage, widths in enumerate(VGG16_STAGES, start=1):
        for i, filters in enumerate(widths, start=1):
            x = conv_relu(x, filters, 3, f"conv{stage}_{i}", padding="valid" if (stage, i) == (1, 1) else "same")
        x = pools[f"pool{stage}"] = keras.layers.MaxPooling2D(2, padding="same", name=f"pool{stage}")(x)
    x = conv_relu(x, fc_channels, 7, "fc6", padding="valid")
    x = keras.layers.Dropout(0.5, name="drop6")(x)
    x = conv_relu(x, fc_channels, 1, "fc7")
    x = keras.layers.Dropout(0.5, name="drop7")(x)
    x = score(x, num_classes, "score_fr")
    for pool, upscore, offset, scale in SKIPS[:num_skips]:
        x = bilinear_upsampling(x, 2, upscore, trainable=True)
        skip = pools[pool]
        if at_once:
            skip = keras.layers.Rescaling(scale, name=f"scale_{pool}")(skip)
        skip = Crop(offset, name=f"score_{pool}c")(score(skip, num_classes, f"score_{pool}"), x)
        x = keras.layers.Add(name=f"fuse_{pool}")([x, skip])
    x = bilinear_upsampling(x, stride, upscore_name, dtype="float32")
    logits = Crop(final_offset, dtype="float32", name="score")(x, inputs)
    model = keras.Model(inputs, logits, name=f"fcn{stride}s")
    if backbone_weights:
        load_vgg16_fcn_weights(model, backbone_weights)
    return model


# The registry's builders. A staged schedule builds a coarser net under a finer net's name by
# passing `stride` (FCN-16s starts from a trained FCN-32s, sec. 4.2).
build_fcn32s = functools.partial(build_fcn, stride=32)
build_fcn16s = functools.partial(build_fcn, stride=16)
build_fcn8s = functools.partial(build_fcn, stride=8)
