import keras
import numpy as np
import pytest

from segpapers import papers
from segpapers.papers.unet.model import unet_output_size
from tests.model_checks import check_forward, check_gradients, check_save_load, tiny_model


def test_paper_tile_572_gives_388_and_the_feature_map_sizes_of_fig1():
    model = papers.build_model("unet", 2, (572, 572, 3))
    assert model.output_shape == (None, 388, 388, 2)
    # Fig. 1: 568 -> 280 -> 136 -> 64 -> 28 down, 56/52 -> 104/100 -> 200/196 -> 392/388 up.
    sizes = {name: model.get_layer(name).output.shape[1] for name in [
        "conv_d0b-c", "conv_d1b-c", "conv_d2b-c", "conv_d3b-c", "conv_d4b-c", "upconv_d4c_u3a", "conv_u3c-d",
        "conv_u2c-d", "conv_u1c-d", "upconv_u1d_u0a", "conv_u0c-d", "crop_d3c-d3cc", "crop_d0c-d0cc"]}
    assert sizes == {"conv_d0b-c": 568, "conv_d1b-c": 280, "conv_d2b-c": 136, "conv_d3b-c": 64, "conv_d4b-c": 28,
                     "upconv_d4c_u3a": 56, "conv_u3c-d": 52, "conv_u2c-d": 100, "conv_u1c-d": 196,
                     "upconv_u1d_u0a": 392, "conv_u0c-d": 388, "crop_d3c-d3cc": 56, "crop_d0c-d0cc": 392}
    convs = [layer for layer in model.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose))]
    assert len(convs) == 23  # sec. 2: "In total the network has 23 convolutional layers"
    assert [layer.filters for layer in convs if isinstance(layer, keras.layers.Conv2DTranspose)] == [512, 256, 128, 64]
    assert model.get_layer("concat_d0cc_u0a-b").output.shape[-1] == 128
    assert [layer.name for layer in model.layers if isinstance(layer, keras.layers.Dropout)] == ["dropout_d3c",
                                                                                                 "dropout_d4c"]


def test_parameter_counts_match_the_reference():
    # Conv weights + biases, 64 base filters, 2 classes: contracting path 18,842,048 (1 input channel),
    # up-convolutions 2,786,240, expansive 3x3 convs 9,402,240, 1x1 classifier 130 = 31,030,658, the
    # figure of REFERENCES.md (◐), which therefore holds for one input channel. The RGB input used
    # here adds 2 x 9 x 64 = 1,152 weights to conv_d0a-b.
    assert papers.build_model("unet", 2, (188, 188, 1)).count_params() == 31_030_658
    assert papers.build_model("unet", 2, (188, 188, 3)).count_params() == 31_031_810
    # Padding changes no parameter. zhixuhao/unet's own model.py (1 channel, 3x3 conv to 2 channels
    # then 1x1 to 1 sigmoid output) counts 31,031,685: 31,030,658 - 130 + 1,154 + 3.
    assert papers.build_model("unet_same", 2, (16, 16, 3)).count_params() == 31_031_810


def test_the_smallest_tile_runs_forward():
    check_forward(tiny_model("unet", size=(188, 204)), (2, 4, 20, 3))


@pytest.mark.parametrize("size, nearest", [(512, "508 or 524"), (573, "572 or 588"), (100, "188"), (187, "188")])
def test_sizes_whose_pooled_maps_would_be_odd_are_refused(size, nearest):
    with pytest.raises(ValueError, match=f"input side {size} is not a valid tile size.*nearest valid: {nearest}"):
        papers.build_model("unet", 2, (size, 572, 3))
    assert [unet_output_size(s) for s in (188, 204, 508, 572)] == [4, 20, 324, 388]


@pytest.mark.parametrize("size", [(16, 16), (32, 48), (80, 64)])
def test_unet_same_keeps_any_multiple_of_16(size):
    model = tiny_model("unet_same", 4, size)
    check_forward(model, (1, *size, 4))
    assert not any(isinstance(layer, keras.layers.Cropping2D) for layer in model.layers)


def test_unet_same_refuses_other_sizes():
    with pytest.raises(ValueError, match="multiples of 16.*got 40; nearest valid: 32 or 48"):
        papers.build_model("unet_same", 2, (40, 32, 3))


def test_kernels_follow_the_papers_gaussian_init():
    model = papers.build_model("unet", 2, (188, 188, 3))
    # std sqrt(2 / N) (sec. 3): N = 9 x 1024 incoming nodes for conv_d4b-c; for an up-convolution
    # N = 4 x 512 output channels, as Caffe's msra filler counts it for the release's Deconvolution.
    for name, fan_in in (("conv_d4b-c", 9 * 1024), ("upconv_d4c_u3a", 4 * 512)):
        std = model.get_layer(name).kernel.numpy().std()
        assert abs(std - np.sqrt(2 / fan_in)) < 0.02 * np.sqrt(2 / fan_in), name


@pytest.mark.parametrize("name", ["unet", "unet_same"])
def test_every_weight_gets_a_gradient_in_training_mode(name):
    check_gradients(tiny_model(name))


@pytest.mark.parametrize("name", ["unet", "unet_same"])
def test_save_and_load_in_safe_mode_give_the_same_predictions(tmp_path, name):
    check_save_load(tiny_model(name), tmp_path)


def test_schedules_and_reported_numbers():
    schedule = papers.get_schedule("unet")
    assert (schedule.dataset, schedule.input_size, schedule.batch_size) == ("isbi2012", (572, 572), 1)
    assert (schedule.optimizer, schedule.momentum) == ("sgd", 0.99)
    assert papers.get_schedule("unet_same").input_size == (512, 512)
    (reported,) = papers.get_reported("unet")
    assert reported.metrics == {"warping_error": 0.000353, "rand_error": 0.0382, "pixel_error": 0.0611}
