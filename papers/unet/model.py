"""U-Net and its same-padding variant.

Ronneberger, Fischer, Brox, "U-Net: Convolutional Networks for Biomedical Image Segmentation",
MICCAI 2015 (arXiv:1505.04597): architecture sec. 2 and Fig. 1, initialisation sec. 3, dropout
sec. 3.1.

- `unet` (sec. 2, Fig. 1): a contracting path of five levels d0..d4, each two unpadded 3x3
  convolutions with ReLU (64 filters doubling to 1024) with 2x2 max-pooling between levels; an
  expansive path u3..u0, each a 2x2 up-convolution (stride-2 transposed convolution) halving the
  channels, a concatenation with the centre-cropped contracting map of its level, and two unpadded
  3x3 convolutions with ReLU; a 1x1 convolution to the classes: 23 convolutions. 572x572 in,
  388x388 out. Every 2x2 pooling must see an even size (sec. 2), so a side is 16 b + 124 for a
  bottom map of b >= 4 pixels (188 -> 4, 204 -> 20, ..., 572 -> 388); other sizes are refused.
- `unet_same`: the popular same-padding form (zhixuhao/unet `model.py`): zero-padded 3x3
  convolutions, so nothing is cropped and the output has the input's size, any multiple of 16.
  Unlike that file it keeps this module's transposed-convolution up-sampling (zhixuhao: nearest
  up-sampling then a 2x2 "same" convolution, as many parameters) and its 1x1 classifier giving K
  logits (zhixuhao: an extra 3x3 convolution to 2 channels, then a 1x1 sigmoid to 1).

What the paper leaves open follows the authors' Caffe release (u-net-release-2015-10-02,
`phseg_v5-train.prototxt`, read through its public ports), whose layer names are kept:
`conv_d0a-b` maps d0a to d0b; d0..d4 are the contracting levels, u3..u0 the expansive ones and
a..d the successive maps within a level (`pool_d0c-1a`, `upconv_d4c_u3a`, `crop_d3c-d3cc`,
`concat_d3cc_u3a-b`, `conv_u3b-c`, ..., `conv_u0d-score`).
- Dropout 0.5 (`dropout_d3c`, `dropout_d4c`) after the 512- and 1024-channel levels, "at the end
  of the contracting path" (sec. 3.1). The release drops d3c in place, so its skip connection
  carries the dropout too (so does zhixuhao's `drop4`).
- A ReLU follows every up-convolution; the up-sampled map comes first in each concatenation.
- Kernels drawn from N(0, 2/N) (sec. 3; Caffe "msra" = `common.layers.he_normal`), N the fan-in;
  for a 2x2 up-convolution Caffe and Keras both take N = 4 x output channels. Biases start at 0.

Deviations: the release's last up-convolution `upconv_u1d_u0a` keeps 128 channels; here it halves
them to 64 as Fig. 1 and sec. 2 say (the release has 69,696 more parameters). Inputs are RGB
0..255 scaled to 0..1 (`scale`, as zhixuhao divides by 255); grayscale slices come replicated to
RGB from the pipeline, which gives `conv_d0a-b` 1,152 more weights than one input channel.
"""
import keras

from segpapers.common.layers import he_normal

LEVELS = 5  # d0..d4: four 2x2 poolings, so sizes change by multiples of 16
DROPOUT_LEVELS = (3, 4)  # the 512- and 1024-channel levels
DROPOUT_RATE = 0.5
SMALLEST_BOTTOM = 4  # bottom map side; a 3-pixel bottom would leave nothing after conv_u0c-d


def unet_output_size(size):
    """Output side of the valid-convolution U-Net for an input side `size` (572 -> 388).

    Raises a ValueError naming the nearest valid tile sizes when a pooling would see an odd size.
    """
    bottom, remainder = divmod(size - 124, 16)
    if remainder or bottom < SMALLEST_BOTTOM:
        lower, upper = 16 * bottom + 124, 16 * (bottom + 1) + 124
        nearest = f"{lower} or {upper}" if bottom >= SMALLEST_BOTTOM else str(16 * SMALLEST_BOTTOM + 124)
        raise ValueError(f"U-Net input side {size} is not a valid tile size: every 2x2 max-pooling must see an "
                         "even size (paper sec. 2), which needs 16 b + 124 pixels for b >= 4 (188, 204, ..., "
                         f"572, ...); nearest valid: {nearest}")
    return 16 * bottom - 60


def _conv3x3(x, filters, name, padding):
    return keras.layers.Conv2D(filters, 3, padding=padding, activation="relu", kernel_initializer=he_normal(),
                               name=name)(x)


def contracting_step(x, level, filters, padding):
    """conv_d{level}a-b and conv_d{level}b-c, then dropout_d{level}c at the end of the path."""
    x = _conv3x3(x, filters, f"conv_d{level}a-b", padding)
    x = _conv3x3(x, filters, f"conv_d{level}b-c", padding)
    if level in DROPOUT_LEVELS:
        x = keras.layers.Dropout(DROPOUT_RATE, name=f"dropout_d{level}c")(x)
    return x


def expanding_step(x, source, skip, level, filters, padding):
    """upconv_{source}_u{level}a, concatenation with the centre-cropped d{level}c, two 3x3 convolutions."""
    x = keras.layers.Conv2DTranspose(filters, 2, strides=2, activation="relu", kernel_initializer=he_normal(),
                                     name=f"upconv_{source}_u{level}a")(x)
    border_h, border_w = skip.shape[1] - x.shape[1], skip.shape[2] - x.shape[2]
    if border_h or border_w:  # the even borders that the unpadded convolutions lost since d{level}c
        skip = keras.layers.Cropping2D(((border_h // 2, border_h - border_h // 2),
                                        (border_w // 2, border_w - border_w // 2)),
                                       name=f"crop_d{level}c-d{level}cc")(skip)
    x = keras.layers.Concatenate(name=f"concat_d{level}cc_u{level}a-b")([x, skip])
    x = _conv3x3(x, filters, f"conv_u{level}b-c", padding)
    return _conv3x3(x, filters, f"conv_u{level}c-d", padding)


def _build(num_classes, input_shape, base_filters, padding, name):
    inputs = keras.Input(input_shape, name="image")
    x = keras.layers.Rescaling(1 / 255, name="scale")(inputs)
    skips = []
    for level in range(LEVELS):
        if level:
            x = keras.layers.MaxPooling2D(2, name=f"pool_d{level - 1}c-{level}a")(x)
        x = contracting_step(x, level, base_filters * 2 ** level, padding)
        skips.append(x)
    source = f"d{LEVELS - 1}c"
    for level in range(LEVELS - 2, -1, -1):
        x = expanding_step(x, source, skips[level], level, base_filters * 2 ** level, padding)
        source = f"u{level}d"
    logits = keras.layers.Conv2D(num_classes, 1, kernel_initializer=he_normal(), dtype="float32",
                                 name="conv_u0d-score")(x)
    return keras.Model(inputs, logits, name=name)


def build_unet(num_classes, input_shape=(572, 572, 3), base_filters=64):
    """The paper's U-Net: unpadded convolutions, output smaller by a 92-pixel border (572 -> 388)."""
    for size in input_shape[:2]:
        unet_output_size(size)
    return _build(num_classes, input_shape, base_filters, "valid", "unet")


def build_unet_same(num_classes, input_shape=(512, 512, 3), base_filters=64):
    """U-Net with zero-padded convolutions: output size == input size, a multiple of 16."""
    for size in input_shape[:2]:
        if size < 16 or size % 16:
            lower, upper = max(16, size // 16 * 16), (size // 16 + 1) * 16
            nearest = str(upper) if lower >= size else f"{lower} or {upper}"
            raise ValueError(f"unet_same needs sides that are multiples of 16 (four 2x2 poolings), got {size}; "
                             f"nearest valid: {nearest}")
    return _build(num_classes, input_shape, base_filters, "same", "unet_same")
