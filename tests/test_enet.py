import keras
import numpy as np
import pytest

from segpapers import papers
from segpapers.common.training import transfer_weights
from tests.model_checks import (check_forward, check_gradients, check_parameter_count, check_save_load, images,
                                infer, tiny_model, trainable_params)


@pytest.mark.parametrize("num_classes, total, trainable", [(12, 372_208, 363_856), (11, 372_143, 363_791)])
def test_parameter_count_matches_paper(num_classes, total, trainable):
    model = papers.build_model("enet", num_classes, (360, 480, 3))
    # Counted from Table 1 with the reference's biases (e-lab encoder.lua / decoder.lua): convolution
    # weights and biases 351,744 with 12 classes (the reference's CamVid output: void + 11), batch
    # norm 4,176 channels x (gamma, beta), PReLU 3,760 slopes -> 363,856 trainable, the 0.36M of the
    # Caffe port (REFERENCES.md). With the 8,352 moving means and variances: 372,208, the paper's
    # 0.37M. 11 classes: 65 fewer (the 2x2x16 + 1 weights of one fullconv output).
    assert trainable_params(model) == trainable
    check_parameter_count(model.count_params(), total, 0.37e6, 0.005 / 0.37, "ENet (0.37M, rounded to 0.01M)")


@pytest.mark.parametrize("size", [(64, 96), (72, 88), (45, 61)])
def test_output_has_input_size_and_encoder_output_is_one_eighth(size):
    check_forward(papers.build_model("enet", 5, (*size, 3)), (2, *size, 5))
    # Ceil-mode downsampling: 45x61 -> 23x31 -> 12x16 -> 6x8.
    check_forward(papers.build_model("enet", 5, (*size, 3), encoder_only=True), (2, *(-(-s // 8) for s in size), 5))


def test_paper_size_maps_to_45x60_at_one_eighth():
    model = papers.build_model("enet", 12, (360, 480, 3))
    assert model.output_shape == (None, 360, 480, 12)
    assert model.get_layer("bottleneck3_8_prelu").output.shape[1:] == (45, 60, 128)
    assert model.get_layer("bottleneck4_0_relu").output.shape[1:] == (90, 120, 64)
    assert model.get_layer("bottleneck5_1_relu").output.shape[1:] == (180, 240, 16)


def test_layers_follow_table1_and_the_reference():
    model = papers.build_model("enet", 12, (64, 96, 3))
    names = [layer.name for layer in model.layers]
    blocks = ["bottleneck1_0", *(f"bottleneck1_{i}" for i in range(1, 5)), "bottleneck2_0",
              *(f"bottleneck{s}_{i}" for s in (2, 3) for i in range(1, 9)),
              "bottleneck4_0", "bottleneck4_1", "bottleneck4_2", "bottleneck5_0", "bottleneck5_1"]
    assert [n for n in names if n.startswith("bottleneck") and n.endswith(("_add"))] == [f"{b}_add" for b in blocks]
    assert model.get_layer("initial_concat").output.shape[-1] == 16
    assert model.get_layer("bottleneck2_2_conv").dilation_rate == (2, 2)
    assert model.get_layer("bottleneck3_8_conv").dilation_rate == (16, 16)
    assert model.get_layer("bottleneck2_3_conv_1x5").kernel_size == (1, 5)
    assert model.get_layer("bottleneck2_3_conv_5x1").kernel_size == (5, 1)
    assert model.get_layer("bottleneck2_0_projection").kernel_size == (2, 2)
    assert model.get_layer("bottleneck2_0_projection").strides == (2, 2)
    # No bias in projections and expansions (sec. 4); the main 3x3 convolutions keep theirs.
    assert not model.get_layer("bottleneck2_5_projection").use_bias
    assert not model.get_layer("bottleneck2_5_expansion").use_bias
    assert model.get_layer("bottleneck2_5_conv").use_bias
    # PReLU with one slope per channel in the encoder, ReLU in the decoder (decoder.lua).
    assert model.get_layer("bottleneck3_1_prelu").get_weights()[0].shape == (1, 1, 128)
    assert isinstance(model.get_layer("bottleneck4_1_relu"), keras.layers.ReLU)
    dropout = {layer.name: layer.rate for layer in model.layers if isinstance(layer, keras.layers.SpatialDropout2D)}
    assert dropout["bottleneck1_4_dropout"] == 0.01 and dropout["bottleneck2_0_dropout"] == 0.1
    assert not any(name.startswith(("bottleneck4", "bottleneck5")) for name in dropout)


def test_decoder_unpools_with_the_switches_of_the_matching_encoder_pooling():
    model = papers.build_model("enet", 5, (64, 96, 3))
    for up, down in (("bottleneck4_0", "bottleneck2_0"), ("bottleneck5_0", "bottleneck1_0")):
        unpool = model.get_layer(f"{up}_unpool")
        assert unpool.input[1] is model.get_layer(f"{down}_pool").output[1]
        assert unpool.output_size == tuple(model.get_layer(f"{down}_pool").input.shape[1:3])


def test_encoder_weights_carry_over_to_the_full_model_by_name():
    size = (32, 48, 3)
    encoder = papers.build_model("enet", 5, size, encoder_only=True)
    full = papers.build_model("enet", 5, size)
    copied = transfer_weights(encoder, full)
    with_weights = {layer.name for layer in encoder.layers if layer.weights}
    assert set(copied) == with_weights - {"encoder_classifier"}
    np.testing.assert_array_equal(full.get_layer("bottleneck3_8_conv").get_weights()[0],
                                  encoder.get_layer("bottleneck3_8_conv").get_weights()[0])
    # Same encoder features in inference mode.
    features = [keras.Model(model.input, model.get_layer("bottleneck3_8_prelu").output) for model in (encoder, full)]
    x = images(size[:2])
    np.testing.assert_allclose(infer(features[1], x), infer(features[0], x), rtol=1e-5, atol=1e-5)


def test_schedule_trains_the_encoder_at_one_eighth_then_the_whole_network():
    schedule = papers.get_schedule("enet")
    assert [stage.name for stage in schedule.stages] == ["encoder", "decoder"] and schedule.epochs == 300
    models = [papers.build_model("enet", 12, (64, 96, 3), **stage.model_options) for stage in schedule.stages]
    assert [model.output_shape[1:3] for model in models] == [(8, 12), (64, 96)]
    assert papers.get_reported("enet")[0].metrics == {"mean_accuracy": 68.3, "miou": 51.3}


def test_save_and_load_give_the_same_predictions(tmp_path):
    check_save_load(papers.build_model("enet", 4, (45, 61, 3)), tmp_path)  # odd: unpooling sizes in the config


def test_every_weight_gets_a_gradient_in_training_mode():
    check_gradients(tiny_model("enet"))
