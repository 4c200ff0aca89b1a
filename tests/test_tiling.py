"""Overlap-tile prediction (U-Net Fig. 2) against the same function on the whole mirrored image."""
import numpy as np
import pytest

from segpapers.common.tiling import overlap_tile_predict


def box_sum(image, radius):
    """Sum over a (2 radius + 1)^2 window, valid part only: a stand-in for an unpadded network."""
    height, width = image.shape[0] - 2 * radius, image.shape[1] - 2 * radius
    return sum(image[dy:dy + height, dx:dx + width] for dy in range(2 * radius + 1) for dx in range(2 * radius + 1))


@pytest.mark.parametrize("size", [(37, 53), (5, 9), (40, 24)])
def test_stitched_tiles_equal_the_function_on_the_mirrored_image(size):
    image = np.random.default_rng(0).random((*size, 3))
    radius = 3

    def predict(tiles):
        return np.stack([box_sum(tile, radius) for tile in tiles])

    result = overlap_tile_predict(predict, image, tile_input=(22, 18), tile_output=(16, 12), batch_size=3)
    expected = box_sum(np.pad(image, ((radius, radius), (radius, radius), (0, 0)), mode="reflect"), radius)
    assert result.shape == (*size, 3)
    np.testing.assert_allclose(result, expected, rtol=1e-12)


def test_a_per_pixel_function_through_centre_crops():
    image = np.random.default_rng(1).random((101, 77, 1))
    result = overlap_tile_predict(lambda tiles: 2 * tiles[:, 92:-92, 92:-92] + 1, image, 572, 388)
    np.testing.assert_allclose(result, 2 * image + 1)


def test_an_output_tile_that_is_not_centred_is_refused():
    with pytest.raises(ValueError, match="even border"):
        overlap_tile_predict(lambda tiles: tiles, np.zeros((8, 8)), 11, 8)
    with pytest.raises(ValueError, match=r"returned tiles of \(4, 4\), expected \(6, 6\)"):
        overlap_tile_predict(lambda tiles: tiles[:, :4, :4], np.zeros((8, 8)), 6, 6)


def test_a_crop_trained_model_predicts_by_tiles_at_the_images_own_scale():
    import tensorflow as tf

    from segpapers import experiment
    from segpapers import papers

    model = papers.build_model("segnet_basic", 3, (32, 32, 3))
    image = np.random.default_rng(0).uniform(0, 255, (1, 40, 72, 3)).astype("float32")
    labels, probs = (t.numpy() for t in experiment.predictor(model, tiles=True)(tf.constant(image)))
    assert labels.shape == (1, 40, 72) and probs.shape == (1, 40, 72, 3)
    # The top-left 32x32 tile is the model's own prediction on that crop, not on a resized image.
    crop = model.predict(image[:, :32, :32], verbose=0)
    np.testing.assert_allclose(probs[0, :32, :32], softmax(crop[0]), atol=1e-4)  # XLA's op order vs Keras
    assert experiment.trained_on_crops({"schedule": {"crop_size": [32, 32]}})
    assert not experiment.trained_on_crops({"schedule": {"crop_size": None}}) and not experiment.trained_on_crops({})


def softmax(logits):
    exp = np.exp(logits - logits.max(-1, keepdims=True))
    return exp / exp.sum(-1, keepdims=True)


def test_test_time_symmetries_average_the_predictions_of_turned_and_flipped_inputs():
    import keras
    import tensorflow as tf

    from segpapers import experiment
    from segpapers.common.errors import UserError

    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(3, 3, padding="same", name="asymmetric")(inputs))
    image = np.random.default_rng(2).uniform(0, 1, (1, 16, 16, 3)).astype("float32")  # no saturated ties
    single = experiment.predictor(model, xla=False)(tf.constant(image))[1].numpy()
    turned = softmax(model.predict(np.rot90(image, 1, axes=(1, 2)), verbose=0))
    expected = (single + np.rot90(turned, -1, axes=(1, 2))) / 2
    labels, probs = (t.numpy() for t in experiment.predictor(model, xla=False, symmetries=2)(tf.constant(image)))
    np.testing.assert_allclose(probs, expected, atol=1e-6)
    np.testing.assert_array_equal(labels, expected.argmax(-1))
    by_hand = []
    for flip in (False, True):
        for turns in range(4):
            seen = np.rot90(image[:, :, ::-1] if flip else image, turns, axes=(1, 2))
            back = np.rot90(softmax(model.predict(seen, verbose=0)), -turns, axes=(1, 2))
            by_hand.append(back[:, :, ::-1] if flip else back)
    all_eight = experiment.predictor(model, xla=False, symmetries=8)(tf.constant(image))[1].numpy()
    np.testing.assert_allclose(all_eight, np.mean(by_hand, axis=0), atol=1e-6)
    # A pointwise model commutes with every symmetry: averaging changes nothing.
    pointwise = keras.Model(inputs, keras.layers.Conv2D(3, 1)(inputs))
    np.testing.assert_allclose(experiment.predictor(pointwise, xla=False, symmetries=8)(tf.constant(image))[1],
                               experiment.predictor(pointwise, xla=False)(tf.constant(image))[1], atol=1e-6)
    with pytest.raises(UserError, match="symmetries=9"):
        experiment.predictor(model, symmetries=9)


def test_symmetries_on_the_tiles_path_restore_a_non_square_image():
    import keras
    import tensorflow as tf

    from segpapers import experiment

    inputs = keras.Input((12, 12, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(2, 5, name="valid")(inputs))  # 12 -> 8: overlap-tiles
    image = np.random.default_rng(3).uniform(0, 1, (1, 17, 23, 3)).astype("float32")
    probs = experiment.predictor(model, xla=False, symmetries=8)(tf.constant(image))[1].numpy()
    by_hand = []
    for flip in (False, True):
        for turns in range(4):
            seen = np.rot90(image[0, :, ::-1] if flip else image[0], turns)
            tiled = overlap_tile_predict(lambda tiles: model.predict(tiles, verbose=0), seen, 12, 8)
            back = np.rot90(softmax(tiled), -turns)
            by_hand.append(back[:, ::-1] if flip else back)
    assert probs.shape == (1, 17, 23, 2)
    np.testing.assert_allclose(probs[0], np.mean(by_hand, axis=0), atol=1e-5)
