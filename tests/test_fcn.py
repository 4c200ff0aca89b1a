import functools

import keras
import numpy as np
import pytest

from segpapers import papers
from segpapers.common.upsampling import BilinearKernel, bilinear_upsampling
from segpapers.common import vgg
from segpapers.common.vgg import IMAGENET_MEAN_RGB
from segpapers.papers.fcn import convert
from tests.model_checks import (check_forward, check_gradients, check_parameter_count, check_save_load, tiny_model,
                                trainable_params)

ODD_SIZE = (97, 131)


@functools.lru_cache(maxsize=None)
def model(name, num_classes=21, size=ODD_SIZE, **options):
    """Each 134M-parameter model is built once per session (its weights, not its size, cost time).

    The alignment test overwrites the weights of the 21-class models at ODD_SIZE: tests that read
    initial weights use another one.
    """
    return papers.build_model(name, num_classes, (*size, 3), **options)


@pytest.fixture(autouse=True, scope="module")
def release_the_cached_models():
    """The cached models hold several GB: they go when this file's tests are done."""
    yield
    model.cache_clear()


@pytest.mark.parametrize("name, expected, learned", [
    # VGG16 conv 14,714,688 + fc6 102,764,544 + fc7 16,781,312 = 134,260,544, plus score_fr
    # 86,037 (21 classes) and the upsampling kernels (21 x 21 x k x k, no bias): FCN-32s' 64x64
    # upscore 1,806,336; FCN-16s' score_pool4 10,773, upscore2 7,056, 32x32 upscore16 451,584;
    # FCN-8s' score_pool4, score_pool3 5,397, upscore2 and upscore_pool4 7,056 each, 16x16
    # upscore8 112,896 = 134,489,759: REFERENCES.md's 134.49M; FCN CVPR Table 1: 134M.
    # FCN CVPR Table 1 gives FCN-VGG16 (= FCN-32s) 134M parameters: the learned ones. The fixed
    # final upsampling is not learned (FCN-32s' alone is 1.8M).
    ("fcn32s", 136_152_917, 134_346_581),
    ("fcn16s", 134_815_994, 134_364_410),
    ("fcn8s", 134_489_759, 134_376_863),
])
def test_parameter_counts(name, expected, learned):
    fcn = model(name)
    assert fcn.count_params() == expected
    check_parameter_count(trainable_params(fcn), learned, 134e6, 0.5 / 134, "FCN CVPR Table 1 (134M)")


def test_fcn8s_with_11_classes_has_the_referenced_count():
    # 134,260,544 + score_fr 45,067 + score_pool4 5,643 + score_pool3 2,827 + 2 x 1,936 + 30,976
    # = 134,348,929: REFERENCES.md's 134.35M with 11 classes.
    assert model("fcn8s", 11, (32, 32)).count_params() == 134_348_929


@pytest.mark.parametrize("name", ["fcn32s", "fcn16s", "fcn8s"])
def test_output_has_the_input_size(name):
    check_forward(model(name), (1, *ODD_SIZE, 21))


def test_a_model_without_a_fixed_size_takes_any_size():
    fcn8s = model("fcn8s", 5, (None, None))
    for size in [(32, 32), (1, 1), (45, 17), ODD_SIZE]:
        check_forward(fcn8s, (1, *size, 5), size)


def impulse_response(fcn, scored, pixel):
    """Output peak of a net that carries a unit impulse at `pixel` of the red channel to the output
    through the `scored` layer only: every conv passes channel 0 through its centre tap, scores
    read channel 0 of `scored` alone, and the upsampling layers keep their bilinear kernels."""
    for layer in fcn.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kernel = np.zeros(layer.kernel.shape, "float32")
            if not layer.name.startswith("score") or layer.name == f"score_{scored}":
                kernel[kernel.shape[0] // 2, kernel.shape[1] // 2, 0, 0] = 1
            layer.set_weights([kernel, np.zeros(layer.bias.shape, "float32")])
    image = np.broadcast_to(np.float32(IMAGENET_MEAN_RGB), (1, *fcn.input_shape[1:])).copy()
    image[0, pixel[0], pixel[1], 0] += 1
    scores = fcn.predict(image, verbose=0)[0, :, :, 0]
    return np.argwhere(scores == scores.max()).mean(axis=0)


@pytest.mark.parametrize("name, scored, stride", [
    ("fcn32s", "fr", 32), ("fcn16s", "fr", 32), ("fcn16s", "pool4", 16),
    ("fcn8s", "fr", 32), ("fcn8s", "pool4", 16), ("fcn8s", "pool3", 8),
])
def test_crops_align_every_stream_with_the_image(name, scored, stride):
    pixel = np.array([40, 70])
    # conv1_1's 100-pixel pad puts its output's row r on image row r - 99; a cell at `stride`
    # pools the block of `stride` rows from stride * k, so its centre on the image is:
    centre = stride * ((pixel + 99) // stride) - 99 + (stride - 1) / 2
    np.testing.assert_array_equal(impulse_response(model(name), scored, pixel), centre)


def test_at_once_scales_the_skips_before_scoring():
    fcn8s = model("fcn8s", 3, (32, 48), at_once=True)
    for pool, scale in [("pool4", 0.01), ("pool3", 1e-4)]:
        assert fcn8s.get_layer(f"score_{pool}").input is fcn8s.get_layer(f"scale_{pool}").output
        probe = keras.Model(fcn8s.input, [fcn8s.get_layer(pool).output, fcn8s.get_layer(f"scale_{pool}").output])
        features, scaled = probe.predict(np.full((1, 32, 48, 3), 200, "float32"), verbose=0)
        np.testing.assert_allclose(scaled, scale * features, rtol=1e-6)
    with pytest.raises(ValueError, match="FCN-32s"):
        papers.build_model("fcn32s", 3, (32, 32, 3), at_once=True)


def test_score_layers_start_at_zero_and_only_the_final_upsampling_is_fixed():
    fcn8s = model("fcn8s", 11, (32, 32))
    for name in ["score_fr", "score_pool4", "score_pool3"]:
        assert not any(w.any() for w in fcn8s.get_layer(name).get_weights())
    assert fcn8s.get_layer("upscore2").trainable and fcn8s.get_layer("upscore_pool4").trainable
    assert not fcn8s.get_layer("upscore8").trainable
    assert all(not layer.use_bias for layer in fcn8s.layers if layer.name.startswith("upscore"))


def upsample_filt(size):
    """fcn.berkeleyvision.org surgery.upsample_filt, verbatim but for Python 3 division."""
    factor = (size + 1) // 2
    if size % 2 == 1:
        center = factor - 1
    else:
        center = factor - 0.5
    og = np.ogrid[:size, :size]
    return (1 - abs(og[0] - center) / factor) * (1 - abs(og[1] - center) / factor)


@pytest.mark.parametrize("size", [3, 4, 5, 16, 32, 64])
def test_bilinear_kernel_is_the_reference_filter_per_channel(size):
    kernel = keras.ops.convert_to_numpy(BilinearKernel()((size, size, 3, 3)))
    for out_channel in range(3):
        for in_channel in range(3):
            expected = upsample_filt(size) if out_channel == in_channel else np.zeros((size, size))
            np.testing.assert_allclose(kernel[:, :, out_channel, in_channel], expected, rtol=1e-6)


@pytest.mark.parametrize("factor", [2, 8])
def test_bilinear_upsampling_of_a_ramp_is_the_ramp_in_between(factor):
    n = 6
    inputs = keras.Input((n, n, 1))
    upsample = keras.Model(inputs, bilinear_upsampling(inputs, factor, "up"))
    rows, cols = np.mgrid[:n, :n]
    out = upsample.predict((rows + 10 * cols).reshape(1, n, n, 1).astype("float32"), verbose=0)[0, :, :, 0]
    assert out.shape == ((n + 1) * factor,) * 2  # kernel 2f, stride f: the reference's geometry
    # Between the first and last input samples, output u interpolates at input coordinate
    # (u - f + 1/2) / f: linear with slope 1/f in each direction, shifted half an output pixel.
    u, v = np.mgrid[factor:n * factor, factor:n * factor]
    expected = (u - factor + 0.5) / factor + 10 * (v - factor + 0.5) / factor
    np.testing.assert_allclose(out[factor:n * factor, factor:n * factor], expected, atol=1e-4)
    assert not upsample.get_layer("up").trainable


def test_convolutionalized_dense_layer_gives_the_same_scores():
    rng = np.random.default_rng(0)
    feature_map = rng.standard_normal((2, 3, 3, 4)).astype("float32")
    dense = keras.layers.Dense(5)
    dense_scores = dense(feature_map.reshape(2, -1))  # Keras' Flatten order: rows, columns, channels
    conv = keras.layers.Conv2D(5, 3)
    conv.build((None, None, None, 4))
    conv.set_weights(convert.convolutionalize(*dense.get_weights(), kernel_size=3, in_channels=4))
    np.testing.assert_allclose(conv(feature_map)[:, 0, 0], dense_scores, rtol=1e-5, atol=1e-5)
    # On a larger map the convolution slides: each output is the classifier on one 3x3 window.
    larger = rng.standard_normal((1, 5, 6, 4)).astype("float32")
    heatmap = keras.ops.convert_to_numpy(conv(larger))
    np.testing.assert_allclose(heatmap[0, 1, 2], dense(larger[:, 1:4, 2:5].reshape(1, -1))[0], rtol=1e-5, atol=1e-5)


def test_vgg16_classifier_weights_become_fc6_and_fc7(tiny_vgg16, monkeypatch):
    _, path = tiny_vgg16
    fcn = papers.build_model("fcn8s", 3, (32, 32, 3))
    # A file with the top: fc1 (25088 x 4096) and fc2 become fc6 (7x7x512) and fc7 (1x1x4096).
    # Faked here: a real VGG16 with its top is a 528 MB file.
    rng = np.random.default_rng(0)
    top = {"fc1": [rng.random((7 * 7 * 512, 4096), "float32"), rng.random(4096, "float32")],
           "fc2": [rng.random((4096, 4096), "float32"), rng.random(4096, "float32")]}
    real_read = vgg.read_vgg16_weights
    monkeypatch.setattr(vgg, "read_vgg16_weights", lambda p: {**real_read(p), **top})
    convert.load_vgg16_fcn_weights(fcn, str(path))
    np.testing.assert_array_equal(fcn.get_layer("fc6").get_weights()[0], top["fc1"][0].reshape(7, 7, 512, 4096))
    np.testing.assert_array_equal(fcn.get_layer("fc7").get_weights()[0], top["fc2"][0].reshape(1, 1, 4096, 4096))
    np.testing.assert_array_equal(fcn.get_layer("fc7").get_weights()[1], top["fc2"][1])


@pytest.mark.slow
@pytest.mark.parametrize("name, scores", [
    ("fcn32s", ["score_fr"]), ("fcn16s", ["score_fr", "score_pool4"]),
    ("fcn8s", ["score_fr", "score_pool4", "score_pool3"]),
])
def test_the_zeroed_score_layers_get_gradients_first(name, scores):
    # The score layers start at zero, so at the first step no gradient reaches the layers below them
    # or the learned upsampling above: the score layers must get theirs.
    check_gradients(tiny_model(name), scores)


def test_save_and_load_give_the_same_predictions(tmp_path):
    loaded = check_save_load(tiny_model("fcn8s", size=(32, 48), at_once=True), tmp_path)
    assert not loaded.get_layer("upscore8").trainable


def test_schedules_follow_the_paper_and_the_reference():
    paper = papers.get_schedule("fcn8s", "paper")
    assert (paper.batch_size, paper.learning_rate, paper.momentum, paper.loss_normalization) == (20, 1e-4, 0.9, "valid")
    # Sec. 4.2: each finer net starts from the coarser one with the rate divided by 100.
    assert [(s.name, s.model_options["stride"]) for s in paper.stages] == [("fcn32s", 32), ("fcn16s", 16), ("fcn8s", 8)]
    assert [s.learning_rate for s in paper.stages] == [None, 1e-6, 1e-8]
    reference = papers.get_schedule("fcn32s", "reference")
    assert (reference.batch_size, reference.learning_rate, reference.momentum, reference.loss_normalization) == (
        1, 1e-10, 0.99, "none")
    atonce = papers.get_schedule("fcn8s", "reference_atonce")
    assert atonce.stages[0].model_options == {"at_once": True} and atonce.learning_rate == 1e-10
    assert [r.metrics["miou"] for r in papers.get_reported("fcn8s")[:3]] == [62.7, 62.7, 62.2]
