"""Layers the papers share: max-pooling that remembers its switches, max-unpooling, LRN, and lean
versions of batch norm, PReLU and spatial dropout.

SegNet (Badrinarayanan et al., sec. 3), DeconvNet (Noh et al., sec. 3.2) and ENet (Paszke et al.,
sec. 3) upsample with the *switches* of the encoder's 2x2 max-pooling: the position of the maximum
inside each pooling window. The switches are stored here as the window-local argmax (0..3, row-major
inside the 2x2 window, i.e. the "2 bits per window" of the SegNet paper) rather than TF's flat index
from `tf.nn.max_pool_with_argmax`, so that both layers are written in `keras.ops` only: they run on
any Keras backend, compile under XLA (which has no kernel for `MaxPoolWithArgmax`), and need no
scatter; on TensorFlow outside a whole-model XLA compilation both run as small XLA-compiled kernels
with hand-written gradients (`tensorflow_pooling`, `tensorflow_unpooling`): the same values, switches
and gradients in one fused pass each way, where TensorFlow's own ops take several (the window
transposes, the one-hot product) and its MaxPoolWithArgmax kernel has no bfloat16 version on CPU.
Odd sizes follow Caffe's ceil-mode pooling used by the SegNet reference: the input is
padded at the bottom/right with -inf, and unpooling crops back to the encoder's size
(Caffe's `upsample_h`/`upsample_w`). An export to another runtime (ONNX, LiteRT) traces both layers
within `for_export()`, from ops those runtimes have built in (`exportable_pooling`, `exportable_unpooling`).
"""
import contextlib
import contextvars
import functools

import keras
from keras import ops

from segpapers.common.backends import on_tensorflow

PACKAGE = "segmentation"

def he_normal():
    """Caffe's "msra" filler of the reference prototxts: N(0, 2 / fan_in), not truncated.

    A new initializer per layer: a Keras initializer built without a seed fixes one at creation and
    draws the same values on every call, so a shared instance would start all same-shaped kernels
    equal. Each new one takes its seed from Python's `random`, which keras.utils.set_random_seed seeds.
    """
    return keras.initializers.VarianceScaling(2.0, "fan_in", "untruncated_normal")


# Batch-norm moving-average momentum 0.9 (PyTorch's 0.1) rather than Keras' 0.99: the statistics
# then track the weights within an epoch of a short run. The Caffe references recompute them over
# the training set after training instead (SegNet's Scripts/compute_bn_statistics.py).
BN_MOMENTUM = 0.9


@keras.saving.register_keras_serializable(package=PACKAGE)
class BatchNormalization(keras.layers.BatchNormalization):
    """Keras' batch norm, run as TensorFlow's fused kernel for NHWC images on the TF backend.

    Keras 3 computes batch norm on TensorFlow as about ten separate element-wise ops, forward and
    backward; `FusedBatchNormV3` is one kernel each way, which matters for the memory-bound ENet
    (benchmarks.speed). Same variables and same results as Keras' layer (the moving variance is
    updated with the biased batch variance, as Keras does, not TF's Bessel-corrected one). Other
    backends, ranks, axes and masks take Keras' own path.
    """

    def call(self, inputs, training=None, mask=None):
        fusable = (on_tensorflow() and len(inputs.shape) == 4 and mask is None
                   and self.axis in (-1, 3) and self.scale and self.center and not self.renorm)
        if not fusable:
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf  # TensorFlow-only fast path

        update = bool(training) and self.trainable
        outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            inputs, self.gamma, self.beta, mean=self.moving_mean, variance=self.moving_variance,
            epsilon=self.epsilon, is_training=update)
        if update:
            count = ops.cast(ops.prod(ops.shape(inputs)[:-1]), "float32")
            biased_variance = variance * (count - 1.0) / count
            self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
            self.moving_variance.assign(self.moving_variance * self.momentum + biased_variance * (1.0 - self.momentum))
        return ops.cast(outputs, self.compute_dtype)


@keras.saving.register_keras_serializable(package=PACKAGE)
class PReLU(keras.layers.PReLU):
    """Keras' PReLU (same variables, same values) with a hand-written gradient.

    Keras writes PReLU as relu(x) - alpha * relu(-x): five element-wise passes over the tensor
    forward and about seven in its automatic gradient; here one select forward and, backward, a
    select for the input and a product-sum for the slope, fused by XLA on TensorFlow
    (`_tensorflow_prelu`). This matters for the memory-bound ENet (benchmarks.speed). At exactly
    x = 0 the input gradient is alpha * upstream rather than Keras' 0 (a set of measure zero).
    """

    def call(self, inputs):
        alpha = ops.cast(self.alpha, inputs.dtype)
        # alpha has the input's shape without the batch axis, 1 on the shared axes.
        summed_axes = tuple([0] + [axis + 1 for axis, size in enumerate(alpha.shape) if size == 1])
        if on_tensorflow() and not _EXPORTING.get():
            return _tensorflow_prelu(inputs, alpha, summed_axes)
        return _prelu(inputs, alpha, summed_axes)


def _prelu(inputs, alpha, summed_axes):
    @ops.custom_gradient
    def prelu(x, slope):
        def gradient(*args, upstream=None):
            upstream = args[0] if upstream is None else upstream
            # The slope's gradient sums millions of terms: in float32 even under mixed precision.
            slope_gradient = ops.sum(ops.cast(upstream * ops.minimum(x, 0), "float32"),
                                     axis=summed_axes, keepdims=True)[0]
            return ops.where(x > 0, upstream, upstream * slope), ops.cast(slope_gradient, slope.dtype)

        return ops.where(x > 0, x, x * slope), gradient

    return prelu(inputs, alpha)


def _tensorflow_prelu(inputs, alpha, summed_axes):
    """`_prelu` on TensorFlow with its element-wise passes fused by XLA: one pass forward and one
    backward, where TF's own kernels make three each. The slope's sum stays outside XLA, whose CPU
    reductions are slower than TF's. XLA inlines the kernels where the whole step is compiled."""
    import tensorflow as tf

    forward, backward = _xla_prelu_kernels()

    @tf.custom_gradient
    def prelu(x, slope):
        def gradient(upstream):
            input_gradient, slope_terms = backward(x, slope, upstream)
            slope_gradient = tf.reduce_sum(slope_terms, axis=summed_axes, keepdims=True)[0]
            return input_gradient, tf.cast(slope_gradient, slope.dtype)

        return forward(x, slope), gradient

    return prelu(inputs, alpha)


@functools.cache
def _xla_prelu_kernels():
    import tensorflow as tf

    @tf.function(jit_compile=True)
    def forward(x, slope):
        return tf.where(x > 0, x, x * slope)

    @tf.function(jit_compile=True)
    def backward(x, slope, upstream):
        # The slope's terms in float32, as in `_prelu`.
        return tf.where(x > 0, upstream, upstream * slope), tf.cast(upstream * tf.minimum(x, 0), tf.float32)

    return forward, backward


@keras.saving.register_keras_serializable(package=PACKAGE)
class SpatialDropout2D(keras.layers.SpatialDropout2D):
    """Keras' SpatialDropout2D (whole channels dropped, the kept ones scaled by 1 / (1 - rate)) as a
    product with a per-image, per-channel mask: one broadcast multiply each way instead of the
    full-size mask select TF's dropout runs forward and backward."""

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        keep = 1.0 - self.rate
        shape = (ops.shape(inputs)[0], 1, 1, ops.shape(inputs)[-1])
        kept = keras.random.uniform(shape, seed=self.seed_generator) < keep
        return inputs * (ops.cast(kept, inputs.dtype) / ops.cast(keep, inputs.dtype))  # scale the small mask


def conv_bn_relu(x, filters, kernel_size, name, use_bias=True, relu=True, padding="same"):
    """Convolution, batch norm (`{name}_bn`) and optionally ReLU, as the Caffe prototxts stack them."""
    x = keras.layers.Conv2D(filters, kernel_size, padding=padding, use_bias=use_bias,
                            kernel_initializer=he_normal(), name=name)(x)
    x = BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x) if relu else x


def _pad_to_even(inputs):
    """Caffe's ceil-mode pooling: pad odd sizes at the bottom/right with -inf."""
    pad_h, pad_w = inputs.shape[1] % 2, inputs.shape[2] % 2
    if pad_h or pad_w:
        inputs = ops.pad(inputs, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), constant_values=float("-inf"))
    return inputs


def _windows(inputs):
    """[N, H, W, C] (even H, W) -> [N, H/2, W/2, C, 4]: each 2x2 window's values, row-major."""
    height, width, channels = inputs.shape[1], inputs.shape[2], inputs.shape[3]
    windows = ops.reshape(inputs, (-1, height // 2, 2, width // 2, 2, channels))
    return ops.reshape(ops.transpose(windows, (0, 1, 3, 5, 2, 4)), (-1, height // 2, width // 2, channels, 4))


def portable_unpooling(inputs, switches):
    """Each value of `inputs` at its switch position in a zero 2x2 window, in keras.ops: [N, h, w, C] ->
    [N, 2h, 2w, C]."""
    height, width, channels = inputs.shape[1], inputs.shape[2], inputs.shape[3]
    windows = ops.one_hot(switches, 4, dtype=inputs.dtype) * ops.expand_dims(inputs, -1)
    windows = ops.reshape(windows, (-1, height, width, channels, 2, 2))
    return ops.reshape(ops.transpose(windows, (0, 1, 4, 2, 5, 3)), (-1, 2 * height, 2 * width, channels))


def portable_pooling(inputs):
    """(pooled, switches) in keras.ops: any backend, XLA included."""
    windows = _windows(_pad_to_even(inputs))
    switches = ops.cast(ops.argmax(windows, axis=-1), "int32")
    # Gather rather than ops.max: the gradient then goes to the one switch position, as in
    # Caffe, instead of being shared among tied maxima (common after ReLU).
    pooled = ops.squeeze(ops.take_along_axis(windows, ops.expand_dims(switches, -1), axis=-1), -1)
    return pooled, switches


def tensorflow_pooling(inputs):
    """`portable_pooling` on TensorFlow as an XLA kernel, its gradient (the upstream values placed at
    the switches) another: the same values, switches and gradients in one pass each way."""
    import tensorflow as tf

    pool, place, _ = _xla_pooling_kernels()

    @tf.custom_gradient
    def pool_with_switches(padded):
        pooled, switches = pool(padded)
        return (pooled, switches), lambda upstream, _switches_upstream: place(upstream, switches)

    return pool_with_switches(_pad_to_even(inputs))


def tensorflow_unpooling(inputs, switches):
    """`portable_unpooling` on TensorFlow as an XLA kernel, its gradient (the upstream value at each
    switch) another."""
    import tensorflow as tf

    _, place, pick = _xla_pooling_kernels()

    @tf.custom_gradient
    def placed(values):
        return place(values, switches), lambda upstream: pick(upstream, switches)

    return placed(inputs)


@functools.cache
def _xla_pooling_kernels():
    import tensorflow as tf

    @tf.function(jit_compile=True)
    def pool(padded):
        windows = _windows(padded)  # ties: the first position, as ops.argmax
        return tf.reduce_max(windows, -1), tf.argmax(windows, -1, output_type=tf.int32)

    @tf.function(jit_compile=True)
    def pick(upstream, switches):
        return tf.reduce_sum(_windows(upstream) * tf.one_hot(switches, 4, dtype=upstream.dtype), -1)

    return pool, tf.function(portable_unpooling, jit_compile=True), pick


def exportable_pooling(inputs):
    """(pooled, switches) from ops ONNX and LiteRT have built in (MaxPool, SpaceToDepth, ArgMax): the
    same values, switches and gradients as `portable_pooling`, without the sign-bit test of its Keras
    argmax (Bitcast, BitwiseAnd: in neither) or `tensorflow_pooling`'s XLA kernels."""
    import tensorflow as tf

    inputs = _pad_to_even(inputs)
    height, width, channels = inputs.shape[1], inputs.shape[2], inputs.shape[3]
    # space_to_depth puts each window's four positions, row-major, each with its C channels, in depth.
    windows = tf.reshape(tf.nn.space_to_depth(inputs, 2), (-1, height // 2, width // 2, 4, channels))
    switches = tf.argmax(windows, axis=3, output_type="int32")  # ties: the first position, as the others
    return tf.nn.max_pool2d(inputs, 2, 2, "VALID"), switches


def exportable_unpooling(inputs, switches):
    """`MaxUnpooling2D`'s values (before its crop to `output_size`) from ops ONNX and LiteRT have built
    in: a select per window position, then DepthToSpace, the inverse of `exportable_pooling`'s
    SpaceToDepth. Not the layer's one-hot product: LiteRT's int8 ONE_HOT is mis-scaled (a mask of
    ~50 quantisation steps' error, which left an int8 ENet at 7 % mIoU)."""
    import tensorflow as tf

    height, width, channels = inputs.shape[1], inputs.shape[2], inputs.shape[3]
    at_position = switches[..., None, :] == tf.range(4)[:, None]  # [N, h, w, 4, C]: row-major window positions
    windows = tf.where(at_position, inputs[..., None, :], tf.zeros((), inputs.dtype))
    return tf.nn.depth_to_space(tf.reshape(windows, (-1, height, width, 4 * channels)), 2)


_EXPORTING = contextvars.ContextVar("exporting", default=False)


@contextlib.contextmanager
def for_export():
    """Within it, the pooling layers trace `exportable_pooling` and `exportable_unpooling`: for the
    converters to other runtimes."""
    token = _EXPORTING.set(True)
    try:
        yield
    finally:
        _EXPORTING.reset(token)


def _use_tensorflow_kernels():
    """On TensorFlow, outside a whole-model XLA compilation (Keras compiles with XLA by default where
    there is an accelerator; on CPU only when asked), which inlines the keras.ops versions instead."""
    if not on_tensorflow():
        return False
    import tensorflow as tf
    from tensorflow.python.ops.control_flow_util import GraphOrParentsInXlaContext

    return not GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph())


@keras.saving.register_keras_serializable(package=PACKAGE)
class MaxPoolingWithArgmax2D(keras.layers.Layer):
    """2x2/stride-2 max-pooling returning `(pooled, switches)`; switches are int32 in 0..3.

    Ties go to the first position of the window in row-major order.
    """

    def call(self, inputs):
        if _EXPORTING.get():
            return exportable_pooling(inputs)
        if _use_tensorflow_kernels():
            return tensorflow_pooling(inputs)
        return portable_pooling(inputs)

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        pooled = (batch, (height + 1) // 2, (width + 1) // 2, channels)
        return pooled, pooled

    def compute_output_spec(self, inputs):
        shape = self.compute_output_shape(inputs.shape)[0]
        return keras.KerasTensor(shape, dtype=inputs.dtype), keras.KerasTensor(shape, dtype="int32")


@keras.saving.register_keras_serializable(package=PACKAGE)
class MaxUnpooling2D(keras.layers.Layer):
    """Places each value at its switch position in a zero 2x2 window (non-learned upsampling).

    `output_size` is the encoder feature map's (height, width) before pooling; it restores odd
    sizes that ceil-mode pooling rounded up. Default: twice the input size.
    """

    def __init__(self, output_size=None, **kwargs):
        super().__init__(**kwargs)
        self.output_size = tuple(output_size) if output_size is not None else None

    def call(self, inputs, switches):
        height, width = inputs.shape[1], inputs.shape[2]
        if _EXPORTING.get():
            upsampled = exportable_unpooling(inputs, switches)
        elif _use_tensorflow_kernels():
            upsampled = tensorflow_unpooling(inputs, switches)
        else:
            upsampled = portable_unpooling(inputs, switches)
        out_h, out_w = self._output_hw(height, width)
        if (out_h, out_w) != (2 * height, 2 * width):
            upsampled = upsampled[:, :out_h, :out_w, :]
        return upsampled

    def _output_hw(self, height, width):
        if self.output_size is None:
            return 2 * height, 2 * width
        out_h, out_w = self.output_size
        if not (2 * height - 1 <= out_h <= 2 * height and 2 * width - 1 <= out_w <= 2 * width):
            raise ValueError(f"{self.name}: output_size {self.output_size} does not invert 2x2 pooling of {height}x{width}")
        return out_h, out_w

    def compute_output_shape(self, inputs_shape, switches_shape):
        batch, height, width, channels = inputs_shape
        return (batch, *self._output_hw(height, width), channels)

    def get_config(self):
        return {**super().get_config(), "output_size": self.output_size}


@keras.saving.register_keras_serializable(package=PACKAGE)
class LocalResponseNormalization(keras.layers.Layer):
    """Caffe's across-channel LRN: x / (k + alpha/n * sum_{n neighbouring channels} x^2)^beta.

    Written in keras.ops because `tf.nn.local_response_normalization` has no bfloat16 CPU kernel
    and uses TF's convention (alpha not divided by n).
    """

    def __init__(self, local_size=5, alpha=1e-4, beta=0.75, k=1.0, **kwargs):
        super().__init__(**kwargs)
        self.local_size, self.alpha, self.beta, self.k = local_size, alpha, beta, k

    def call(self, inputs):
        channels = inputs.shape[-1]
        radius = (self.local_size - 1) // 2
        squares = ops.pad(ops.square(inputs), ((0, 0), (0, 0), (0, 0), (radius, self.local_size - 1 - radius)))
        window_sum = sum(squares[..., i:i + channels] for i in range(self.local_size))
        return inputs / ops.power(self.k + self.alpha / self.local_size * window_sum, self.beta)

    def get_config(self):
        return {**super().get_config(), "local_size": self.local_size, "alpha": self.alpha, "beta": self.beta, "k": self.k}
