"""Bilinear upsampling as a transposed convolution ("deconvolution"), as FCN does it.

Long et al., "Fully Convolutional Networks for Semantic Segmentation", CVPR 2015, sec. 3.3:
upsampling by an integer factor f is a convolution with output stride f, whose kernel can be fixed
to bilinear interpolation or initialised to it and learned. The reference implementation
(fcn.berkeleyvision.org) uses a kernel of 2f with stride f and no padding, so n inputs give
(n + 1) * f outputs and a crop realigns them; `surgery.upsample_filt` fills the kernel.
"""
import keras
import numpy as np

from segpapers.common.layers import PACKAGE


def bilinear_filter(size):
    """The size x size bilinear interpolation filter of the reference's `surgery.upsample_filt`."""
    factor = (size + 1) // 2
    center = factor - 1 if size % 2 == 1 else factor - 0.5
    profile = 1 - np.abs(np.arange(size) - center) / factor
    return np.outer(profile, profile)


@keras.saving.register_keras_serializable(package=PACKAGE)
class BilinearKernel(keras.initializers.Initializer):
    """Kernel of a `Conv2DTranspose` that upsamples every channel on its own, bilinearly.

    Channel c maps to output channel c through `bilinear_filter`, all other pairs are zero, like the
    reference's `surgery.interp` (which needs as many outputs as inputs).
    """

    def __call__(self, shape, dtype=None):
        height, width, out_channels, in_channels = shape  # Conv2DTranspose's kernel layout
        if height != width or out_channels != in_channels:
            raise ValueError(f"a bilinear kernel needs a square window and as many outputs as inputs, got {shape}")
        kernel = np.zeros(shape, "float32")
        kernel[:, :, range(out_channels), range(in_channels)] = bilinear_filter(height)[:, :, None]
        return keras.ops.convert_to_tensor(kernel, dtype=dtype)


def bilinear_upsampling(x, factor, name, trainable=False, dtype=None):
    """`factor`x upsampling of `x` initialised to bilinear; fixed unless `trainable` (no bias, as the reference)."""
    return keras.layers.Conv2DTranspose(x.shape[-1], 2 * factor, strides=factor, use_bias=False,
                                        kernel_initializer=BilinearKernel(), trainable=trainable, dtype=dtype,
                                        name=name)(x)
