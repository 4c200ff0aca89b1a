"""PyTorch twins of `segnet_basic`, `enet` and `unet`, for the timing comparison in benchmarks.speed.

The twins exist only to time the same networks under PyTorch next to the Keras models; nothing is
trained or evaluated with them. Each has the Keras model's layers in the same order with the same
shapes and the same parameter count (`count_params`), and the same operations: ceil-mode max-pooling
whose indices feed max-unpooling, ENet's per-channel PReLU and spatial dropout, U-Net's unpadded
convolutions and centre crops, the same biases, and batch norm with Keras' epsilon and the project's
momentum. Like the Keras models they are built for one input size, NCHW in, NCHW logits out.

PyTorch is the optional `speed` extra (`pip install -e ".[speed]"`): only this module imports it,
and nothing in papers/, common/ or datasets/ imports this module.

    model = build_torch_model("enet", 11, (360, 480, 3)).eval()
    logits = model(torch.zeros(1, 3, 360, 480))  # (1, 11, 360, 480)
"""
from collections import OrderedDict

import torch
from torch import nn
from torch.nn import functional as F

from segpapers.common.layers import BN_MOMENTUM
from segpapers.papers.enet.model import PROJECTION_RATIO, STAGE_2_3
from segpapers.papers.unet.model import DROPOUT_LEVELS, DROPOUT_RATE, LEVELS, unet_output_size

BN_EPSILON = 1e-3  # keras.layers.BatchNormalization's default (PyTorch's is 1e-5)


def batch_norm(channels):
    # Keras updates moving = m * moving + (1 - m) * batch; PyTorch weights the batch by its momentum.
    return nn.BatchNorm2d(channels, eps=BN_EPSILON, momentum=1 - BN_MOMENTUM)


def half(size):
    """(rows, columns) after a ceil-mode 2x2/stride-2 pooling, as common.layers.MaxPoolingWithArgmax2D."""
    return tuple(-(-side // 2) for side in size)


def count_params(module):
    """The parameter count as Keras' `count_params()` gives it for the twin Keras model.

    Keras counts every weight, including batch norm's moving mean and variance (non-trainable
    weights); PyTorch keeps those as the buffers `running_mean` and `running_var`. So: all
    parameters, plus the elements of every batch norm's running mean and variance; the
    `num_batches_tracked` counter has no Keras counterpart and is left out.
    """
    running = sum(layer.running_mean.numel() + layer.running_var.numel()
                  for layer in module.modules() if isinstance(layer, nn.modules.batchnorm._BatchNorm))
    return sum(parameter.numel() for parameter in module.parameters()) + running


# SegNet-Basic (papers/segnet/model.py, build_segnet_basic).

def conv_bn(in_channels, filters, kernel_size, use_bias=True, relu=True):
    """common.layers.conv_bn_relu with "same" padding (odd kernels: kernel_size // 2 on every side)."""
    layers = [nn.Conv2d(in_channels, filters, kernel_size, padding=kernel_size // 2, bias=use_bias),
              batch_norm(filters)]
    return nn.Sequential(*layers, nn.ReLU()) if relu else nn.Sequential(*layers)


class SegNetBasic(nn.Module):
    def __init__(self, num_classes, input_shape, depth=4, filters=64, kernel_size=7):
        super().__init__()
        channels = input_shape[-1]
        # Caffe's LRN, as common.layers.LocalResponseNormalization: alpha / n, 2 channels each side.
        self.norm = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)
        self.encoders = nn.ModuleList(conv_bn(channels if i == 0 else filters, filters, kernel_size)
                                      for i in range(depth))
        self.decoders = nn.ModuleList(conv_bn(filters, filters, kernel_size, use_bias=False, relu=False)
                                      for _ in range(depth))
        self.conv_classifier = nn.Conv2d(filters, num_classes, 1)

    def forward(self, x):
        x = self.norm(x)
        pooled = []
        for encoder in self.encoders:
            x = encoder(x)
            size = x.shape[2:]
            x, indices = F.max_pool2d(x, 2, ceil_mode=True, return_indices=True)
            pooled.append((indices, size))
        for decoder, (indices, size) in zip(self.decoders, reversed(pooled)):
            x = decoder(F.max_unpool2d(x, indices, 2, output_size=size))
        return self.conv_classifier(x)


# ENet (papers/enet/model.py, build_enet): a branch's submodules are named as the Keras layers'
# suffixes (bottleneck2_3_conv_1x5 -> conv_1x5).

def activation(kind, channels):
    return nn.PReLU(channels, init=0.25) if kind == "prelu" else nn.ReLU()


def extension(in_channels, channels, kind, arg, act, dropout, in_size=None, downsampling=False):
    """The bottleneck's convolutional branch (Fig. 2b): projection, main conv, expansion, dropout.

    `arg`: dilation rate (regular: 1), kernel length (asymmetric) or output size (upsampling);
    `in_size`: the input's (rows, columns), needed when downsampling or upsampling.
    """
    internal = channels // PROJECTION_RATIO
    layers = OrderedDict()
    if downsampling and (in_size[0] % 2 or in_size[1] % 2):
        # Keras' "same" 2x2/stride-2 convolution pads odd sizes at the bottom/right only.
        layers["projection_pad"] = nn.ZeroPad2d((0, in_size[1] % 2, 0, in_size[0] % 2))
    stride = 2 if downsampling else 1
    layers["projection"] = nn.Conv2d(in_channels, internal, stride, stride=stride, bias=False)
    layers["projection_bn"], layers[f"projection_{act}"] = batch_norm(internal), activation(act, internal)
    if kind == "asymmetric":
        layers[f"conv_1x{arg}"] = nn.Conv2d(internal, internal, (1, arg), padding=(0, arg // 2), bias=False)
        layers[f"conv_{arg}x1"] = nn.Conv2d(internal, internal, (arg, 1), padding=(arg // 2, 0))
    elif kind == "upsampling":
        # Torch's full convolution (padding 1); the output padding keeps the last row/column only
        # where the encoder map had an even size, as the Keras crop does.
        output_padding = tuple(out - (2 * side - 1) for out, side in zip(arg, in_size))
        layers["conv"] = nn.ConvTranspose2d(internal, internal, 3, stride=2, padding=1, output_padding=output_padding)
    else:
        layers["conv"] = nn.Conv2d(internal, internal, 3, padding=arg, dilation=arg)
    layers["conv_bn"], layers[f"conv_{act}"] = batch_norm(internal), activation(act, internal)
    layers["expansion"], layers["expansion_bn"] = nn.Conv2d(internal, channels, 1, bias=False), batch_norm(channels)
    if dropout:
        layers["dropout"] = nn.Dropout2d(dropout)
    return nn.Sequential(layers)


class Bottleneck(nn.Module):
    """Regular, dilated or asymmetric bottleneck: identity main branch, same width."""

    def __init__(self, channels, kind="regular", arg=1, act="prelu", dropout=0.1):
        super().__init__()
        self.branch = extension(channels, channels, kind, arg, act, dropout)
        self.activation = activation(act, channels)

    def forward(self, x):
        return self.activation(x + self.branch(x))


class DownsamplingBottleneck(nn.Module):
    """Returns the output and the main branch's pooling indices for the matching unpooling."""

    def __init__(self, in_channels, channels, size, dropout):
        super().__init__()
        self.branch = extension(in_channels, channels, "regular", 1, "prelu", dropout, size, downsampling=True)
        self.activation = activation("prelu", channels)
        self.pad_channels = channels - in_channels

    def forward(self, x):
        main, indices = F.max_pool2d(x, 2, ceil_mode=True, return_indices=True)
        main = F.pad(main, (0, 0, 0, 0, 0, self.pad_channels))
        return self.activation(main + self.branch(x)), indices


class UpsamplingBottleneck(nn.Module):
    def __init__(self, in_channels, channels, size, out_size):
        super().__init__()
        self.main = nn.Conv2d(in_channels, channels, 1, bias=False)
        self.main_bn = batch_norm(channels)
        self.branch = extension(in_channels, channels, "upsampling", out_size, "relu", 0, size)
        self.activation = nn.ReLU()
        self.out_size = out_size

    def forward(self, x, indices):
        main = F.max_unpool2d(self.main_bn(self.main(x)), indices, 2, output_size=self.out_size)
        return self.activation(main + self.branch(x))


class InitialBlock(nn.Module):
    """Fig. 2a: 13 3x3 stride-2 filters next to a ceil-mode 2x2 max-pooling of the input."""

    def __init__(self, in_channels):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 13, 3, stride=2, padding=1)  # Torch pads every side
        self.bn = batch_norm(13 + in_channels)
        self.prelu = activation("prelu", 13 + in_channels)

    def forward(self, x):
        pooled = F.max_pool2d(x, 2, ceil_mode=True)
        return self.prelu(self.bn(torch.cat([self.conv(x), pooled], dim=1)))


class ENet(nn.Module):
    def __init__(self, num_classes, input_shape):
        super().__init__()
        self.input_size = tuple(input_shape[:2])
        size0 = half(self.input_size)  # initial block
        size1 = half(size0)  # after bottleneck1_0
        size2 = half(size1)  # after bottleneck2_0: 1/8
        self.initial = InitialBlock(input_shape[-1])
        self.bottleneck1_0 = DownsamplingBottleneck(13 + input_shape[-1], 64, size0, dropout=0.01)
        self.stage1 = nn.Sequential(*(Bottleneck(64, dropout=0.01) for _ in range(1, 5)))
        self.bottleneck2_0 = DownsamplingBottleneck(64, 128, size1, dropout=0.1)
        self.stages2_3 = nn.Sequential(*(Bottleneck(128, kind, arg) for _ in (2, 3) for kind, arg in STAGE_2_3))
        self.bottleneck4_0 = UpsamplingBottleneck(128, 64, size2, size1)
        self.stage4 = nn.Sequential(*(Bottleneck(64, act="relu", dropout=0) for _ in (1, 2)))
        self.bottleneck5_0 = UpsamplingBottleneck(64, 16, size1, size0)
        self.bottleneck5_1 = Bottleneck(16, act="relu", dropout=0)
        self.fullconv = nn.ConvTranspose2d(16, num_classes, 2, stride=2)

    def forward(self, x):
        x = self.initial(x * (1 / 255))
        x, indices1 = self.bottleneck1_0(x)
        x, indices2 = self.bottleneck2_0(self.stage1(x))
        x = self.stage4(self.bottleneck4_0(self.stages2_3(x), indices2))
        x = self.bottleneck5_1(self.bottleneck5_0(x, indices1))
        return self.fullconv(x)[:, :, :self.input_size[0], :self.input_size[1]]  # odd input sizes


# U-Net (papers/unet/model.py, build_unet): unpadded convolutions, 572 -> 388.

def conv3x3_relu(in_channels, filters):
    return [nn.Conv2d(in_channels, filters, 3), nn.ReLU()]


class ExpandingStep(nn.Module):
    """Up-convolution, concatenation with the centre-cropped skip map, two 3x3 convolutions."""

    def __init__(self, in_channels, filters):
        super().__init__()
        self.upconv = nn.Sequential(nn.ConvTranspose2d(in_channels, filters, 2, stride=2), nn.ReLU())
        self.convs = nn.Sequential(*conv3x3_relu(2 * filters, filters), *conv3x3_relu(filters, filters))

    def forward(self, x, skip):
        x = self.upconv(x)
        top, left = (skip.shape[2] - x.shape[2]) // 2, (skip.shape[3] - x.shape[3]) // 2
        skip = skip[:, :, top:top + x.shape[2], left:left + x.shape[3]]
        return self.convs(torch.cat([x, skip], dim=1))


class UNet(nn.Module):
    def __init__(self, num_classes, input_shape, base_filters=64):
        super().__init__()
        for size in input_shape[:2]:
            unet_output_size(size)  # refuses sizes where a pooling would see an odd map
        widths = [base_filters * 2 ** level for level in range(LEVELS)]
        self.contracting = nn.ModuleList(
            nn.Sequential(*conv3x3_relu(in_channels, filters), *conv3x3_relu(filters, filters),
                          *([nn.Dropout(DROPOUT_RATE)] if level in DROPOUT_LEVELS else []))
            for level, (in_channels, filters) in enumerate(zip([input_shape[-1], *widths], widths)))
        self.expanding = nn.ModuleList(ExpandingStep(widths[level + 1], widths[level])
                                       for level in range(LEVELS - 2, -1, -1))
        self.score = nn.Conv2d(base_filters, num_classes, 1)

    def forward(self, x):
        x = x * (1 / 255)
        skips = []
        for level, step in enumerate(self.contracting):
            x = step(F.max_pool2d(x, 2) if level else x)
            skips.append(x)
        for level, step in zip(range(LEVELS - 2, -1, -1), self.expanding):
            x = step(x, skips[level])
        return self.score(x)


_BUILDERS = {"segnet_basic": SegNetBasic, "enet": ENet, "unet": UNet}
TORCH_MODELS = tuple(_BUILDERS)


def build_torch_model(name, num_classes, input_shape):
    """The PyTorch twin of `papers.build_model(name, num_classes, input_shape)`; `input_shape` is (H, W, C)."""
    if name not in _BUILDERS:
        raise ValueError(f"no PyTorch twin of {name!r}; twins: {', '.join(TORCH_MODELS)}")
    return _BUILDERS[name](num_classes, tuple(input_shape))
