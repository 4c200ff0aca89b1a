"""ENet.

Paszke, Chaurasia, Kim, Culurciello, "ENet: A Deep Neural Network Architecture for Real-Time
Semantic Segmentation", arXiv:1606.02147 (2016): Table 1 (layers), Fig. 2 (initial block and
bottleneck), sec. 3-4. Details the paper leaves open follow the authors' Torch code,
e-lab/ENet-training `train/models/encoder.lua` and `decoder.lua`; layer names are the paper's
(`initial`, `bottleneck1_0` ... `bottleneck5_1`, `fullconv`) with suffixes for their parts.

- Input: RGB in 0..255 rescaled to 0..1, as the reference's `image.load` gives (no mean subtraction).
- Bottleneck (Fig. 2b): 1x1 projection to a quarter of the output width (2x2 stride 2 when
  downsampling), main convolution (regular 3x3, dilated 3x3, asymmetric 1x5 then 5x1 in (rows,
  columns) -- Torch's "5x1, 1x5" counts columns first -- or a 3x3 transposed convolution when
  upsampling), 1x1 expansion, each followed by batch norm; the activation after the first two;
  spatial dropout; addition with the main branch; activation. Projections, expansions, the first
  asymmetric convolution and the upsampling main branch's 1x1 have no bias ("we do not use bias
  terms in any of the projections", sec. 4); the other convolutions keep theirs, as in the reference.
- Downsampling main branch: 2x2 max-pooling with switches, channels zero-padded to the output width.
  Upsampling main branch: 1x1 convolution and batch norm, then max-unpooling with the switches of
  the matching downsampling bottleneck (bottleneck4_0 <- bottleneck2_0, bottleneck5_0 <-
  bottleneck1_0). The initial block's pooling switches are unused: the last module is a bare 2x2
  transposed convolution to the classes (`fullconv`, sec. 3).
- Encoder (stages 1-3): PReLU, dropout 0.01 in stage 1 and 0.1 in stages 2-3. Decoder (stages 4-5):
  ReLU and no dropout, as decoder.lua (the paper's text would also put p = 0.1 there).
- Deviations: kernels start from He normal (the project's convention) rather than Torch's uniform
  +-1/sqrt(fan_in), biases from zero, batch-norm scales at 1 rather than Torch's U[0, 1]; PReLU slopes
  start at Torch's 0.25. A schedule with `initialization="torch7"` (ENet's `reference_torch7`) re-draws
  them as Torch does (common/initialization.py).

Sizes: pooling and the strided convolutions round up (ceil mode), and the transposed convolutions
are cropped to the size the matching encoder map had, so any input size gives logits of that
size; 360x480 maps to 45x60 at 1/8. `encoder_only` is the network the reference trains first
(sec. 5.2): stages 1-3 and a 1x1 convolution to the classes at 1/8 resolution; every other layer
has the name it has in the full network, so its weights carry over by name.
"""
import keras
from keras import ops

from segpapers.common.layers import (BN_MOMENTUM, PACKAGE, BatchNormalization, MaxPoolingWithArgmax2D, MaxUnpooling2D, PReLU,
                           SpatialDropout2D, he_normal)

PROJECTION_RATIO = 4  # the bottleneck's internal width is its output width / 4 (sec. 3)

# Stages 2 and 3 after bottleneck2_0 (Table 1): (main convolution, dilation rate or kernel size).
STAGE_2_3 = (("regular", 1), ("dilated", 2), ("asymmetric", 5), ("dilated", 4),
             ("regular", 1), ("dilated", 8), ("asymmetric", 5), ("dilated", 16))


@keras.saving.register_keras_serializable(package=PACKAGE)
class ChannelZeroPadding(keras.layers.Layer):
    """Appends zero channels up to `channels` (the downsampling bottleneck's main branch)."""

    def __init__(self, channels, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels

    def call(self, inputs):
        return ops.pad(inputs, ((0, 0), (0, 0), (0, 0), (0, self.channels - inputs.shape[-1])))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.channels)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}


def activation(kind, name):
    if kind == "prelu":
        # One slope per channel, shared over space, starting at Torch's nn.PReLU default.
        return PReLU(keras.initializers.Constant(0.25), shared_axes=[1, 2], name=name)
    return keras.layers.ReLU(name=name)


def bn_activation(x, name, kind):
    """Batch norm `{name}_bn` (Torch's eps 1e-3, Keras' default) and activation `{name}_{kind}`."""
    x = BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return activation(kind, f"{name}_{kind}")(x) if kind else x


def conv(filters, kernel_size, name, **options):
    return keras.layers.Conv2D(filters, kernel_size, padding="same", kernel_initializer=he_normal(), name=name, **options)


def crop(x, size, name, offset=0, **options):
    """Keeps `size` (rows, columns) of `x` from `offset` on both axes."""
    rows, cols = x.shape[1] - offset - size[0], x.shape[2] - offset - size[1]
    return keras.layers.Cropping2D(((offset, rows), (offset, cols)), name=name, **options)(x)


def transposed_conv(x, filters, size, name):
    """3x3 stride-2 full convolution as Torch's (padding 1, output padding 1), cropped to `size`."""
    x = keras.layers.Conv2DTranspose(filters, 3, strides=2, kernel_initializer=he_normal(), name=name)(x)
    # The unpadded output (2n + 1) minus Torch's one-pixel padding at the top/left; the bottom/right
    # row goes too unless the encoder map had an odd size.
    return crop(x, size, f"{name}_crop", offset=1)


def main_conv(x, filters, kind, arg, name):
    """`arg`: dilation rate (regular: 1), kernel length (asymmetric) or output size (upsampling)."""
    if kind == "asymmetric":
        x = conv(filters, (1, arg), f"{name}_1x{arg}", use_bias=False)(x)
        return conv(filters, (arg, 1), f"{name}_{arg}x1")(x)
    if kind == "upsampling":
        return transposed_conv(x, filters, arg, name)
    return conv(filters, 3, name, dilation_rate=arg)(x)


def extension(x, channels, kind, arg, name, act, dropout, projection_stride=1):
    """The bottleneck's convolutional branch (Fig. 2b): projection, main conv, expansion, dropout."""
    internal = channels // PROJECTION_RATIO
    x = conv(internal, projection_stride, f"{name}_projection", strides=projection_stride, use_bias=False)(x)
    x = bn_activation(x, f"{name}_projection", act)
    x = bn_activation(main_conv(x, internal, kind, arg, f"{name}_conv"), f"{name}_conv", act)
    x = bn_activation(conv(channels, 1, f"{name}_expansion", use_bias=False)(x), f"{name}_expansion", None)
    return SpatialDropout2D(dropout, name=f"{name}_dropout")(x) if dropout else x


def merge(main, branch, name, act):
    return activation(act, f"{name}_{act}")(keras.layers.Add(name=f"{name}_add")([main, branch]))


def bottleneck(x, name, kind="regular", arg=1, act="prelu", dropout=0.1):
    """Regular, dilated or asymmetric bottleneck: identity main branch, same width."""
    return merge(x, extension(x, x.shape[-1], kind, arg, name, act, dropout), name, act)


def downsampling_bottleneck(x, channels, name, dropout):
    """Returns the output, the main branch's switches and the input's (rows, columns) for unpooling."""
    size = tuple(x.shape[1:3])
    main, switches = MaxPoolingWithArgmax2D(name=f"{name}_pool")(x)
    main = ChannelZeroPadding(channels, name=f"{name}_pad")(main)
    branch = extension(x, channels, "regular", 1, name, "prelu", dropout, projection_stride=2)
    return merge(main, branch, name, "prelu"), switches, size


def upsampling_bottleneck(x, switches, size, channels, name):
    main = bn_activation(conv(channels, 1, f"{name}_main", use_bias=False)(x), f"{name}_main", None)
    main = MaxUnpooling2D(size, name=f"{name}_unpool")(main, switches)
    return merge(main, extension(x, channels, "upsampling", size, name, "relu", dropout=0), name, "relu")


def initial_block(x):
    """Fig. 2a: 13 3x3 stride-2 filters next to a 2x2 max-pooling of the input -> 16 channels."""
    # Torch pads one pixel on every side; Keras' "same" would pad only the bottom/right at stride 2.
    padded = keras.layers.ZeroPadding2D(1, name="initial_conv_pad")(x)
    convolved = keras.layers.Conv2D(13, 3, strides=2, kernel_initializer=he_normal(), name="initial_conv")(padded)
    pooled = keras.layers.MaxPooling2D(2, padding="same", name="initial_pool")(x)
    return bn_activation(keras.layers.Concatenate(name="initial_concat")([convolved, pooled]), "initial", "prelu")


def build_enet(num_classes, input_shape=(360, 480, 3), encoder_only=False):
    """ENet (Table 1); `encoder_only`: stages 1-3 and a classifier at 1/8 resolution (sec. 5.2)."""
    inputs = keras.Input(input_shape, name="image")
    x = initial_block(keras.layers.Rescaling(1 / 255, name="rescale")(inputs))
    x, switches1, size1 = downsampling_bottleneck(x, 64, "bottleneck1_0", dropout=0.01)
    for i in range(1, 5):
        x = bottleneck(x, f"bottleneck1_{i}", dropout=0.01)
    x, switches2, size2 = downsampling_bottleneck(x, 128, "bottleneck2_0", dropout=0.1)
    for stage in (2, 3):
        for i, (kind, arg) in enumerate(STAGE_2_3, start=1):
            x = bottleneck(x, f"bottleneck{stage}_{i}", kind, arg)
    if encoder_only:
        logits = keras.layers.Conv2D(num_classes, 1, kernel_initializer=he_normal(), dtype="float32",
                                     name="encoder_classifier")(x)
        return keras.Model(inputs, logits, name="enet")
    x = upsampling_bottleneck(x, switches2, size2, 64, "bottleneck4_0")
    x = bottleneck(x, "bottleneck4_1", act="relu", dropout=0)
    x = bottleneck(x, "bottleneck4_2", act="relu", dropout=0)
    x = upsampling_bottleneck(x, switches1, size1, 16, "bottleneck5_0")
    x = bottleneck(x, "bottleneck5_1", act="relu", dropout=0)
    x = keras.layers.Conv2DTranspose(num_classes, 2, strides=2, kernel_initializer=he_normal(), dtype="float32",
                                     name="fullconv")(x)
    logits = crop(x, input_shape[:2], "fullconv_crop", dtype="float32")  # odd input sizes
    return keras.Model(inputs, logits, name="enet")
