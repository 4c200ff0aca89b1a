"""DeconvNet.

Noh, Hong, Han, "Learning Deconvolution Network for Semantic Segmentation", ICCV 2015, sec. 3
and Fig. 2; layer names and sizes from the reference HyeonwooNoh/DeconvNet
(`model/DeconvNet/DeconvNet_inference_deploy.prototxt`).

The convolution network is VGG16's 13 conv layers with batch norm after every layer (sec. 4.1)
and 2x2 max-pooling that keeps its switches, then fc6 (7x7 conv, 4096, valid: 7x7 -> 1x1 at the
paper's 224x224 input) and fc7 (1x1 conv, 4096). The deconvolution network mirrors it: `fc6-deconv`
(7x7 transposed conv back to 7x7, 512), then for each stage an unpooling with that stage's
switches and 3x3 transposed convolutions (`deconv5_1` ... `deconv1_2`), each with batch norm and
ReLU, and a 1x1 `seg-score` to the classes. Dropout is removed, as the paper does (sec. 6.1).

Deviations: instance-wise inference over ~50 edge-box proposals aggregated by a pixel-wise max
(sec. 5) is replaced by whole-image inference, the common simplification; `fc_channels=1024`
gives the variant the SegNet paper benchmarked on CamVid (its sec. 4: fc layers cut to 1024).
"""
import keras

from segpapers.common.layers import BN_MOMENTUM, BatchNormalization, MaxUnpooling2D, conv_bn_relu
from segpapers.common.vgg import VGG16_STAGES, imagenet_mean_subtraction, load_vgg16_weights, vgg16_bn_encoder

def gaussian():
    """The reference's zero-mean Gaussians for the deconvolution network (sec. 6.1); one per layer
    (see common.layers.he_normal)."""
    return keras.initializers.RandomNormal(stddev=0.01)


def deconv_bn_relu(x, filters, kernel_size, name, padding="same"):
    x = keras.layers.Conv2DTranspose(filters, kernel_size, padding=padding, kernel_initializer=gaussian(), name=name)(x)
    x = BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def deconvolution_stage(x, switches, size, stage, widths, out_filters):
    """unpool{stage}, then deconv{stage}_1 .. deconv{stage}_n; the last maps to `out_filters`."""
    x = MaxUnpooling2D(size, name=f"unpool{stage}")(x, switches)
    for i in range(1, len(widths)):
        x = deconv_bn_relu(x, widths[i - 1], 3, f"deconv{stage}_{i}")
    return deconv_bn_relu(x, out_filters, 3, f"deconv{stage}_{len(widths)}")


def build_deconvnet(num_classes, input_shape=(224, 224, 3), fc_channels=4096, backbone_weights=None):
    """DeconvNet; inputs need at least 193x193 pixels so that fc6's 7x7 window fits on pool5."""
    inputs = keras.Input(input_shape, name="image")
    x = imagenet_mean_subtraction(inputs)
    x, pooled = vgg16_bn_encoder(x)  # the paper's "convolution network"
    pool5_size = tuple(x.shape[1:3])
    if min(pool5_size) < 7:
        raise ValueError(f"DeconvNet needs inputs of at least 193x193 (pool5 >= 7x7); got {input_shape[:2]}")
    x = conv_bn_relu(x, fc_channels, 7, "fc6", padding="valid")
    x = conv_bn_relu(x, fc_channels, 1, "fc7")
    x = deconv_bn_relu(x, VGG16_STAGES[-1][-1], 7, "fc6-deconv", padding="valid")
    for stage in range(len(VGG16_STAGES), 0, -1):
        switches, size = pooled[stage - 1]
        widths = VGG16_STAGES[stage - 1]
        out_filters = VGG16_STAGES[stage - 2][0] if stage > 1 else widths[0]
        x = deconvolution_stage(x, switches, size, stage, widths, out_filters)
    logits = keras.layers.Conv2D(num_classes, 1, kernel_initializer=gaussian(), dtype="float32", name="seg-score")(x)
    model = keras.Model(inputs, logits, name="deconvnet")
    if backbone_weights:
        load_vgg16_weights(model, backbone_weights)
    return model
