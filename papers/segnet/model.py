"""SegNet and SegNet-Basic.

Badrinarayanan, Kendall, Cipolla, "SegNet: A Deep Convolutional Encoder-Decoder Architecture for
Image Segmentation", TPAMI 2017 (arXiv:1511.00561v3). Layer names follow the reference Caffe
prototxts of alexgkendall/SegNet-Tutorial (`Models/segnet_train.prototxt`,
`Models/segnet_basic_train.prototxt`).

- SegNet (sec. 3, Fig. 2): the 13 conv layers of VGG16 as encoder, each followed by batch norm and
  ReLU; 2x2 max-pooling whose switches feed the decoder's max-unpooling; a mirrored 13-layer
  decoder. As in the reference, the decoder's last layer `conv1_1_D` is a 3x3 convolution straight
  to the classes (no batch norm), feeding the softmax ("the decoder network has 13 layers",
  sec. 3); there is no separate 1x1 classifier.
- SegNet-Basic (sec. 3.1): local contrast normalisation of the input (Caffe LRN in the reference),
  4 encoders and 4 decoders of 64 7x7 filters, batch norm after every convolution, no ReLU and no
  biases in the decoder (the reference keeps the encoder's biases), a 1x1 `conv_classifier`.

Caffe pools in ceil mode: a 45-row map pools to 23 rows and unpools back to 45 (`upsample_h`).
"""
import keras

from segpapers.common.layers import he_normal, LocalResponseNormalization, MaxPoolingWithArgmax2D, MaxUnpooling2D, conv_bn_relu
from segpapers.common.vgg import VGG16_STAGES, imagenet_mean_subtraction, load_vgg16_weights, vgg16_bn_encoder


def decoder(x, switches, size, stage, widths, out_filters):
    """upsample{stage}, then conv{stage}_{i}_D from i = len(widths) down to 1.

    The last conv maps to the next decoder's width (`out_filters`), mirroring the encoder.
    """
    x = MaxUnpooling2D(size, name=f"upsample{stage}")(x, switches)
    for i in range(len(widths), 1, -1):
        x = conv_bn_relu(x, widths[i - 1], 3, f"conv{stage}_{i}_D")
    return conv_bn_relu(x, out_filters, 3, f"conv{stage}_1_D")


def build_segnet(num_classes, input_shape=(360, 480, 3), backbone_weights=None):
    """SegNet with a VGG16 encoder. `backbone_weights`: optional local Keras VGG16 weights file."""
    inputs = keras.Input(input_shape, name="image")
    x, pooled = vgg16_bn_encoder(imagenet_mean_subtraction(inputs))
    for stage in range(len(VGG16_STAGES), 1, -1):
        switches, size = pooled[stage - 1]
        x = decoder(x, switches, size, stage, VGG16_STAGES[stage - 1], out_filters=VGG16_STAGES[stage - 2][0])
    switches, size = pooled[0]
    x = MaxUnpooling2D(size, name="upsample1")(x, switches)
    x = conv_bn_relu(x, VGG16_STAGES[0][1], 3, "conv1_2_D")
    logits = keras.layers.Conv2D(num_classes, 3, padding="same", kernel_initializer=he_normal(),
                                 dtype="float32", name="conv1_1_D")(x)
    model = keras.Model(inputs, logits, name="segnet")
    if backbone_weights:
        load_vgg16_weights(model, backbone_weights)
    return model


def build_segnet_basic(num_classes, input_shape=(360, 480, 3), depth=4, filters=64, kernel_size=7):
    """SegNet-Basic (Table 1: 1.425M parameters with 11 classes)."""
    inputs = keras.Input(input_shape, name="image")
    x = LocalResponseNormalization(local_size=5, alpha=1e-4, beta=0.75, name="norm")(inputs)
    pooled = []
    for i in range(1, depth + 1):
        x = conv_bn_relu(x, filters, kernel_size, f"conv{i}")
        size = tuple(x.shape[1:3])
        x, switches = MaxPoolingWithArgmax2D(name=f"pool{i}")(x)
        pooled.append((switches, size))
    for i in range(depth, 0, -1):
        switches, size = pooled[i - 1]
        x = MaxUnpooling2D(size, name=f"upsample{i}")(x, switches)
        x = conv_bn_relu(x, filters, kernel_size, f"conv_decode{i}", use_bias=False, relu=False)
    logits = keras.layers.Conv2D(num_classes, 1, kernel_initializer=he_normal(), dtype="float32",
                                 name="conv_classifier")(x)
    return keras.Model(inputs, logits, name="segnet_basic")
