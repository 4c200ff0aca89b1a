"""The ISBI 2012 loader on tiny files written here and on the real copy when present; U-Net's
augmentations in datasets.pipeline: elastic deformation, rotation, gray values, overlap-tile crops."""

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from segpapers import datasets
from segpapers.common.errors import DataError
from segpapers.common.schedule import Schedule
from segpapers.datasets.pipeline import Augmentation, eval_pipeline, train_pipeline
from tests.paths import SHARED_DATA, needs_shared_data

SHARED_ISBI = SHARED_DATA / "isbi2012"
SIZE = 12


def slice_image(n):
    return np.random.default_rng(n).integers(0, 256, (SIZE, SIZE), dtype=np.uint8)


def membrane_label(n):
    label = np.full((SIZE, SIZE), 255, np.uint8)
    label[n % SIZE] = 0  # one membrane row per slice, to tell the slices apart
    return label


def write_isbi(root, count, label_of=membrane_label):
    for folder in ("train/images", "train/labels", "test/images"):
        (root / folder).mkdir(parents=True)
    for n in range(count):
        Image.fromarray(slice_image(n), "L").save(root / "train" / "images" / f"{n}.png")
        Image.fromarray(label_of(n), "L").save(root / "train" / "labels" / f"{n}.png")
        Image.fromarray(slice_image(100 + n), "L").save(root / "test" / "images" / f"{n}.png")


def labels_of(ds):
    return [label for _, label in ds.as_numpy_iterator()]


def test_isbi_splits_in_numeric_order_and_maps_membrane_and_cell(tmp_path):
    write_isbi(tmp_path, 12)  # 10.png must sort after 9.png
    train, info = datasets.load("isbi2012", "train", data_dir=tmp_path)
    assert info.class_names == ("membrane", "cell") and info.num_classes == 2
    examples = list(train.as_numpy_iterator())
    assert len(examples) == 7
    image, label = examples[0]
    assert image.shape == (SIZE, SIZE, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image, np.repeat(slice_image(0)[..., None], 3, axis=-1))  # gray -> RGB
    np.testing.assert_array_equal(label, (membrane_label(0) == 255).astype(np.uint8))
    val = labels_of(datasets.load("isbi2012", "val", data_dir=tmp_path)[0])
    assert [int(np.argmin(label[:, 0])) for label in val] == [7, 8, 9, 10, 11]
    assert datasets.image_names("isbi2012", "val", data_dir=tmp_path) == ["7", "8", "9", "10", "11"]
    assert len(labels_of(datasets.load("isbi2012", "val", data_dir=tmp_path, val_images=2)[0])) == 2
    assert len(labels_of(datasets.load("isbi2012", "trainval", data_dir=tmp_path)[0])) == 12


def test_isbi_refuses_the_hidden_test_split_stray_label_values_and_a_bad_val_size(tmp_path):
    write_isbi(tmp_path, 6, label_of=lambda n: np.full((SIZE, SIZE), 128 if n == 0 else 255, np.uint8))
    with pytest.raises(ValueError, match="keeps the test labels hidden"):
        datasets.load("isbi2012", "test", data_dir=tmp_path)
    with pytest.raises(ValueError, match=r"val_images=6 must leave both splits non-empty \(6 labelled"):
        datasets.load("isbi2012", "train", data_dir=tmp_path, val_images=6)
    with pytest.raises(DataError, match=r"0.png has pixel values \[128\]"):
        datasets.load("isbi2012", "train", data_dir=tmp_path)
    with pytest.raises(ValueError, match="--data-dir"):
        datasets.load("isbi2012", "train")


@needs_shared_data("isbi2012")
def test_the_real_isbi_copy_loads():
    train, _ = datasets.load("isbi2012", "train", data_dir=SHARED_ISBI)
    val, _ = datasets.load("isbi2012", "val", data_dir=SHARED_ISBI)
    assert train.cardinality() == 25 and val.cardinality() == 5
    image, label = next(val.as_numpy_iterator())
    assert image.shape == (512, 512, 3) and label.shape == (512, 512)
    assert set(np.unique(label)) == {0, 1} and 0.1 < (label == 0).mean() < 0.4  # ~22% membrane (README)


def augmented(image, label, augment, seed=0):
    ds = tf.data.Dataset.from_tensors((image, label))
    return next(train_pipeline(ds, 1, augment=augment, shuffle_buffer=1, seed=seed, cache=False).as_numpy_iterator())


def test_a_zero_sigma_deformation_is_the_identity():
    image = np.random.default_rng(0).integers(0, 256, (21, 34, 3), dtype=np.uint8)
    label = np.random.default_rng(1).integers(0, 3, (21, 34), dtype=np.uint8)
    out_image, out_label = augmented(image, label, Augmentation(elastic=(3, 0.0)))
    np.testing.assert_array_equal(out_image[0], image.astype(np.float32))
    np.testing.assert_array_equal(out_label[0], label)


def test_a_deformation_moves_pixels_but_keeps_labels_in_their_class_set():
    image = np.random.default_rng(2).integers(0, 256, (64, 48, 3), dtype=np.uint8)
    label = np.random.default_rng(3).choice(np.array([0, 1, 255], np.uint8), (64, 48))
    out_image, out_label = augmented(image, label, Augmentation(elastic=(3, 10.0)))
    assert out_image.shape == (1, 64, 48, 3) and out_label.shape == (1, 64, 48)
    assert not np.array_equal(out_label[0], label)
    assert set(np.unique(out_label)) <= {0, 1, 255}
    assert 0 <= out_image.min() and out_image.max() <= 255  # bilinear: convex combinations of pixels
    again, _ = augmented(image, label, Augmentation(elastic=(3, 10.0)))
    np.testing.assert_array_equal(again, out_image)  # stateless: reproducible from the seed


def test_nearest_label_sampling_follows_the_bilinear_image():
    # A smooth image that encodes each pixel's own coordinates: after deformation, rounding the
    # sampled coordinates must give back the label sampled at the same place.
    rows, cols = np.meshgrid(np.arange(40), np.arange(56), indexing="ij")
    image = np.stack([rows * 4, cols * 4, np.zeros_like(rows)], -1).astype(np.uint8)
    label = (rows * 56 + cols) % 251  # a distinct id per (row, col) up to wrap-around
    out_image, out_label = augmented(image, label.astype(np.uint8), Augmentation(elastic=(3, 4.0)), seed=5)
    y, x = np.round(out_image[0, ..., 0] / 4).astype(int), np.round(out_image[0, ..., 1] / 4).astype(int)
    np.testing.assert_array_equal(out_label[0], label[y, x])


def coordinate_image(height, width):
    """An image whose channels are each pixel's own row and column (x4), and a label of distinct ids."""
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    image = np.stack([rows * 4, cols * 4, np.zeros_like(rows)], -1).astype(np.uint8)
    return image, ((rows * width + cols) % 251).astype(np.uint8)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rotation_turns_the_image_about_its_centre_within_the_range(seed):
    image, label = coordinate_image(41, 41)
    out_image, out_label = augmented(image, label, Augmentation(rotation=30.0), seed=seed)
    y, x = out_image[0, ..., 0] / 4, out_image[0, ..., 1] / 4
    inner = np.s_[14:27, 14:27]  # sampled inside the image whatever the angle: no mirroring there
    dy_dcol, dx_dcol = np.diff(y, axis=1)[inner].mean(), np.diff(x, axis=1)[inner].mean()
    dy_drow, dx_drow = np.diff(y, axis=0)[inner].mean(), np.diff(x, axis=0)[inner].mean()
    np.testing.assert_allclose([dy_drow, dx_dcol], [np.cos(np.arctan2(dx_drow, dy_drow))] * 2, atol=0.02)
    np.testing.assert_allclose([dx_drow, dy_dcol], [np.sin(np.arctan2(dx_drow, dy_drow)), -dx_drow], atol=0.02)
    assert abs(np.degrees(np.arctan2(dx_drow, dy_drow))) <= 30.5
    np.testing.assert_allclose([y[20, 20], x[20, 20]], [20, 20], atol=0.51)  # the centre stays
    rows, cols = np.round(y).astype(int), np.round(x).astype(int)
    np.testing.assert_array_equal(out_label[0][inner], label[rows[inner], cols[inner]])  # labels follow, unblended


def test_gray_values_are_a_monotone_curve_that_leaves_labels_alone():
    image = np.random.default_rng(4).integers(0, 256, (30, 30, 3), dtype=np.uint8)
    label = np.random.default_rng(5).integers(0, 2, (30, 30), dtype=np.uint8)
    outputs = [augmented(image, label, Augmentation(gray_values=(0.1, 1.25)), seed=seed) for seed in range(3)]
    for out_image, out_label in outputs:
        np.testing.assert_array_equal(out_label[0], label)
        order = np.argsort(image.ravel(), kind="stable")
        assert np.all(np.diff(out_image[0].ravel()[order]) >= -1e-3)  # monotone in the input value
        assert 0 <= out_image.min() and out_image.max() <= 255
        assert not np.allclose(out_image[0], image)
    assert not np.allclose(outputs[0][0], outputs[1][0])


def test_overlap_tile_crops_put_their_output_anywhere_inside_the_image():
    # A 12x12 slice, crops of 10 with a mirrored border of 2: the 6x6 output centre of every crop
    # is a window of the slice itself, at offsets 0..6 in both directions.
    image, label = coordinate_image(12, 12)
    augment = Augmentation(crop_size=(10, 10), mirror_border=2)
    offsets = set()
    for seed in range(40):
        _, out_label = augmented(image, label, augment, seed=seed)
        centre = out_label[0, 2:8, 2:8]
        top, left = divmod(int(np.flatnonzero(label == centre[0, 0])[0]), 12)
        np.testing.assert_array_equal(centre, label[top:top + 6, left:left + 6])
        # and the border around it is the mirrored slice
        np.testing.assert_array_equal(out_label[0], np.pad(label, 2, mode="reflect")[top:top + 10, left:left + 10])
        offsets.add((top, left))
    tops, lefts = zip(*offsets)
    assert min(tops) == 0 and max(tops) == 6 and min(lefts) == 0 and max(lefts) == 6


def test_validation_with_a_mirrored_border_sees_the_centre_at_its_own_scale():
    image, label = coordinate_image(12, 12)
    ds = tf.data.Dataset.from_tensors((image, label))
    (out_image, out_label), = eval_pipeline(ds, 1, (10, 10), mirror_border=2).as_numpy_iterator()
    np.testing.assert_array_equal(out_label[0], np.pad(label, 2, mode="reflect")[3:13, 3:13])
    np.testing.assert_array_equal(out_label[0, 2:8, 2:8], label[3:9, 3:9])
    assert out_image.shape == (1, 10, 10, 3)
    (_, wider), = eval_pipeline(ds, 1, (20, 20), mirror_border=2).as_numpy_iterator()
    assert (wider[0, :2] == 255).all() and (wider[0, 2:18, 2:18] == np.pad(label, 2, mode="reflect")).all()


def test_a_mirrored_border_needs_crops_and_the_symmetries_a_count_up_to_8():
    base = dict(dataset="isbi2012", input_size=(572, 572), batch_size=1, epochs=1, learning_rate=0.01, source="test")
    with pytest.raises(ValueError, match="mirror_border=92 needs a crop_size"):
        Schedule(**base, mirror_border=92)
    with pytest.raises(ValueError, match="test_time_symmetries=9"):
        Schedule(**base, test_time_symmetries=9)
