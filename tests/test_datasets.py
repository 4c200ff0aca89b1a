"""Dataset loaders on tiny files written here, their error messages, the synthetic generator and
the shared tf.data pipeline; the real CamVid copy when it is present."""

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from segpapers import datasets
from segpapers.common.errors import DataError
from segpapers.datasets import pipeline, synthetic
from segpapers.datasets.base import color_map
from segpapers.datasets.pipeline import Augmentation, eval_pipeline, train_pipeline
from tests.paths import SHARED_DATA, needs_shared_data

HEIGHT, WIDTH = 8, 12


def as_numpy(ds):
    return list(ds.as_numpy_iterator())


def random_image(seed):
    return np.random.default_rng(seed).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)


def save(path, array, mode=None, palette=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(array, mode)
    if palette is not None:
        image.putpalette(palette)
    image.save(path)
    return path


def write_camvid(root, labels):
    """CamVid layout with one train pair per label array."""
    lines = []
    for i, label in enumerate(labels):
        save(root / "train" / f"f{i}.png", random_image(i))
        save(root / "trainannot" / f"f{i}.png", label)
        lines.append(f"train/f{i}.png trainannot/f{i}.png")
    (root / "train.txt").write_text("\n".join(lines) + "\n")


def camvid_label(value=0):
    label = np.arange(HEIGHT * WIDTH, dtype=np.uint8).reshape(HEIGHT, WIDTH) % 12  # every value 0..11
    label[0, 0] = value
    return label


def test_registry_lists_the_datasets_and_rejects_unknown_names():
    assert datasets.list_datasets() == ["camvid", "folder", "isbi2012", "mnist_cifar", "synthetic", "voc"]
    with pytest.raises(ValueError,
                       match="unknown dataset 'kitti'.*camvid, folder, isbi2012, mnist_cifar, synthetic, voc"):
        datasets.load("kitti", "train")


def test_unknown_split_lists_the_valid_ones():
    with pytest.raises(ValueError, match="'training'.*train, val, test"):
        datasets.load("synthetic", "training")


def test_camvid_maps_void_to_ignore(tmp_path):
    write_camvid(tmp_path, [camvid_label(), camvid_label(5)])
    ds, info = datasets.load("camvid", "train", data_dir=tmp_path)
    assert info.num_classes == 11 and info.palette[3] == (128, 64, 128)  # Road
    assert ds.cardinality() == 2
    (image, label), _ = as_numpy(ds)
    assert image.shape == (HEIGHT, WIDTH, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image, random_image(0))
    expected = camvid_label()
    expected[expected == 11] = 255
    np.testing.assert_array_equal(label, expected)


def test_camvid_needs_a_data_dir_and_its_list_files(tmp_path):
    with pytest.raises(ValueError, match="--data-dir"):
        datasets.load("camvid", "train")
    with pytest.raises(FileNotFoundError, match="does_not_exist"):
        datasets.load("camvid", "train", data_dir=tmp_path / "does_not_exist")
    with pytest.raises(FileNotFoundError, match="val.txt"):
        datasets.load("camvid", "val", data_dir=tmp_path)


def test_camvid_missing_label_fails_at_load_naming_it(tmp_path):
    write_camvid(tmp_path, [camvid_label()])
    (tmp_path / "trainannot" / "f0.png").unlink()
    with pytest.raises(FileNotFoundError, match="trainannot/f0.png"):
        datasets.load("camvid", "train", data_dir=tmp_path)


@pytest.mark.parametrize("damage, message", [
    ("corrupt_image", "cannot decode image .*train/f1.png"),
    ("truncated_label", "cannot decode label .*trainannot/f1.png"),
    ("out_of_range", r"label .*trainannot/f1.png has pixel values \[12, 200\]"),
    ("size_mismatch", "size mismatch: image .*train/f1.png is 8x12.*trainannot/f1.png is 8x11"),
])
def test_bad_files_raise_naming_the_file(tmp_path, damage, message):
    write_camvid(tmp_path, [camvid_label(), camvid_label()])
    if damage == "corrupt_image":
        (tmp_path / "train" / "f1.png").write_bytes(b"\x89PNG\r\n\x1a\n not a png at all")
    elif damage == "truncated_label":
        noisy_label = np.random.default_rng(0).integers(0, 12, (HEIGHT, WIDTH), dtype=np.uint8)
        label_bytes = save(tmp_path / "trainannot" / "f1.png", noisy_label).read_bytes()
        # cut inside the pixel data (a cut after it, e.g. in the end chunk, still decodes)
        (tmp_path / "trainannot" / "f1.png").write_bytes(label_bytes[:len(label_bytes) // 2])
    elif damage == "out_of_range":
        label = camvid_label(12)
        label[1, 1] = 200
        save(tmp_path / "trainannot" / "f1.png", label)
    else:
        save(tmp_path / "trainannot" / "f1.png", camvid_label()[:, :-1])
    with pytest.raises(DataError, match=r"1 of 2 image/label pairs cannot be used:\n  " + message):
        datasets.load("camvid", "train", data_dir=tmp_path)  # at load, before anything reads the split


def test_the_scan_names_every_bad_pair_and_reads_a_good_split_once(tmp_path, monkeypatch):
    from segpapers.datasets import scan

    monkeypatch.setenv("SEGPAPERS_CACHE", str(tmp_path / "cache"))
    write_camvid(tmp_path, [camvid_label() for _ in range(8)])
    for index in (2, 5, 7):
        (tmp_path / "train" / f"f{index}.png").write_bytes(b"damaged")
    with pytest.raises(DataError, match=r"(?s)3 of 8 image/label pairs.*train/f2.png.*train/f5.png.*train/f7.png"):
        datasets.load("camvid", "train", data_dir=tmp_path)
    for index in (2, 5, 7):
        save(tmp_path / "train" / f"f{index}.png", random_image(index))
    read = scan.scan_pairs
    counts = []
    monkeypatch.setattr("segpapers.datasets.pipeline.scan_pairs", lambda *args: counts.append(read(*args)))
    datasets.load("camvid", "train", data_dir=tmp_path)
    datasets.load("camvid", "train", data_dir=tmp_path)
    assert counts == [3, 0]  # only the replaced files were read again, then nothing
    save(tmp_path / "trainannot" / "f0.png", camvid_label(12))  # a changed file is read again, and refused
    with pytest.raises(DataError, match=r"(?s)1 of 8 .*trainannot/f0.png has pixel values \[12\]"):
        datasets.load("camvid", "train", data_dir=tmp_path)


def write_voc(root, ids):
    """VOC 2012 layout under root/VOCdevkit/VOC2012: JPEG images, palette PNG masks with 255 borders."""
    voc = root / "VOCdevkit" / "VOC2012"
    masks = {}
    for i, id_ in enumerate(ids):
        save(voc / "JPEGImages" / f"{id_}.jpg", random_image(i))
        mask = np.zeros((HEIGHT, WIDTH), np.uint8)
        mask[2:6, 3:9] = 15  # person
        mask[1, 2:10] = mask[6, 2:10] = 255  # object border
        mask[0, 0] = i
        masks[id_] = mask
        save(voc / "SegmentationClass" / f"{id_}.png", mask, "P", palette=[c for rgb in color_map(256) for c in rgb])
    (voc / "ImageSets" / "Segmentation").mkdir(parents=True)
    (voc / "ImageSets" / "Segmentation" / "train.txt").write_text("\n".join(ids) + "\n")
    return voc, masks


def test_voc_reads_palette_indices_and_keeps_the_border_ignored(tmp_path):
    voc, masks = write_voc(tmp_path, ["2007_000032", "2007_000039"])
    assert Image.open(voc / "SegmentationClass" / "2007_000032.png").mode == "P"
    for data_dir in (tmp_path, voc):  # the VOC2012 folder itself, or a folder holding VOCdevkit/
        ds, info = datasets.load("voc", "train", data_dir=data_dir)
        assert info.num_classes == 21 and info.palette[15] == (192, 128, 128)  # standard VOC person colour
        examples = as_numpy(ds)
        assert [image.shape for image, _ in examples] == [(HEIGHT, WIDTH, 3)] * 2
        np.testing.assert_array_equal(examples[1][1], masks["2007_000039"])
        assert set(np.unique(examples[0][1])) == {0, 15, 255}


def test_voc_rejects_a_folder_without_the_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match="JPEGImages"):
        datasets.load("voc", "train", data_dir=tmp_path)


def write_folder(root, num_images, classes="background 0\nroad 255\n"):
    masks = {}
    for i in range(num_images):
        stem = f"img{i:02d}"
        if i % 2:
            save(root / "images" / f"{stem}.jpg", random_image(i)[..., 0], "L")  # grayscale JPEG
        else:
            save(root / "images" / f"{stem}.png", random_image(i))
        masks[stem] = np.where(random_image(i)[..., 1] > 127, 255, 0).astype(np.uint8)
        save(root / "masks" / f"{stem}.png", masks[stem])
    (root / "classes.txt").write_text(classes)
    return masks


def test_folder_maps_mask_values_and_splits_80_10_10(tmp_path):
    masks = write_folder(tmp_path, 10)
    info = datasets.get_info("folder", data_dir=tmp_path)
    assert info.class_names == ("background", "road") and info.splits == ("train", "val", "test")
    loaded = {split: as_numpy(datasets.load("folder", split, data_dir=tmp_path)[0]) for split in info.splits}
    assert [len(loaded[split]) for split in info.splits] == [8, 1, 1]
    seen = [label for split in info.splits for _, label in loaded[split]]
    assert sorted(label.tobytes() for label in seen) == sorted((mask // 255).tobytes() for mask in masks.values())
    assert all(image.shape == (HEIGHT, WIDTH, 3) for split in info.splits for image, _ in loaded[split])


def test_folder_split_files_and_implicit_class_values(tmp_path):
    masks = write_folder(tmp_path, 3, classes="background\nroad\n")
    (tmp_path / "splits").mkdir()
    (tmp_path / "splits" / "train.txt").write_text("img02\nimg00\n")
    assert datasets.get_info("folder", data_dir=tmp_path).splits == ("train",)
    (_, label), _ = as_numpy(datasets.load("folder", "train", data_dir=tmp_path)[0])
    np.testing.assert_array_equal(label, masks["img02"])  # listed order kept; 255 = ignore when values are implicit


@pytest.mark.parametrize("break_folder, error, message", [
    (lambda root: (root / "masks" / "img01.png").unlink(), FileNotFoundError, "images/img01.jpg has no mask"),
    (lambda root: (root / "images" / "img02.png").unlink(), FileNotFoundError, "masks/img02.png has no image"),
    (lambda root: [path.unlink() for path in (root / "images").iterdir()], ValueError, "no .* files in .*images"),
    (lambda root: (root / "classes.txt").unlink(), FileNotFoundError, "classes.txt"),
    (lambda root: (root / "classes.txt").write_text("background 0\nroad\n"), ValueError, "classes.txt"),
])
def test_folder_layout_errors_name_the_path(tmp_path, break_folder, error, message):
    write_folder(tmp_path, 4)
    break_folder(tmp_path)
    with pytest.raises(error, match=message):
        datasets.load("folder", "train", data_dir=tmp_path)


def test_folder_unlisted_mask_value_is_an_error(tmp_path):
    write_folder(tmp_path, 10, classes="background 0\nroad 1\n")  # masks hold 255 (ignore) and 0, never 1
    save(tmp_path / "masks" / "img00.png", np.full((HEIGHT, WIDTH), 7, np.uint8))
    with pytest.raises(DataError, match=r"masks/img00.png has pixel values \[7\]"):
        for split in ("test", "train", "val"):  # whichever split holds img00
            datasets.load("folder", split, data_dir=tmp_path)


def test_image_names_are_the_files_in_load_order_and_none_for_generated_data(tmp_path):
    write_camvid(tmp_path / "camvid", [camvid_label(), camvid_label(1)])
    assert datasets.image_names("camvid", "train", tmp_path / "camvid") == ["f0", "f1"]
    voc, _ = write_voc(tmp_path / "voc", ["2007_000039", "2007_000032"])
    assert datasets.image_names("voc", "train", voc) == ["2007_000039", "2007_000032"]
    write_folder(tmp_path / "folder", 3)
    (tmp_path / "folder" / "splits").mkdir()
    (tmp_path / "folder" / "splits" / "train.txt").write_text("img02\nimg00\n")
    assert datasets.image_names("folder", "train", tmp_path / "folder") == ["img02", "img00"]
    assert datasets.image_names("synthetic", "val") is None and datasets.image_names("mnist_cifar", "test") is None


def test_synthetic_is_deterministic_per_seed_and_split():
    images, labels = synthetic.generate(20, (32, 40), seed=3)
    again_images, again_labels = synthetic.generate(20, (32, 40), seed=3)
    other_images, _ = synthetic.generate(20, (32, 40), seed=4)
    np.testing.assert_array_equal(images, again_images)
    np.testing.assert_array_equal(labels, again_labels)
    assert not np.array_equal(images, other_images)
    assert images.shape == (20, 32, 40, 3) and images.dtype == np.uint8
    assert labels.shape == (20, 32, 40) and labels.dtype == np.uint8
    train = as_numpy(datasets.load("synthetic", "train", num_images=2)[0])
    val = as_numpy(datasets.load("synthetic", "val", num_images=2)[0])
    assert not np.array_equal(train[0][0], val[0][0])
    again = as_numpy(datasets.load("synthetic", "train", num_images=2)[0])  # the process's cached arrays
    np.testing.assert_array_equal(again[0][0], synthetic.generate(2, seed=[0, 0])[0][0])


def test_synthetic_defaults_and_classes():
    ds, info = datasets.load("synthetic", "val")
    assert ds.cardinality() == 100
    assert info.class_names == ("background", "disc", "square", "triangle", "ring", "cross")
    assert len(set(info.palette)) == info.num_classes


def test_synthetic_all_background_prediction_scores_low():
    _, labels = synthetic.generate(300)
    assert set(np.unique(labels)) == set(range(6))
    background_share = (labels == 0).mean()
    assert 0.55 < background_share < 0.8
    # Predicting background everywhere: IoU of background = its pixel share, every other class 0.
    ious = [np.sum((labels == c) & (c == 0)) / np.sum((labels == c) | (c == 0)) for c in range(6)]
    assert np.mean(ious) < 0.15


def tensor_pairs(images, labels):
    return tf.data.Dataset.from_tensor_slices((np.stack(images), np.stack(labels)))


def coordinate_pairs(count):
    """Images whose pixels encode their own column, labels a function of the pixel: misalignment shows."""
    y, x = np.mgrid[0:20, 0:30]
    image = np.stack([x * 8, y * 12, np.zeros_like(x)], axis=-1).astype(np.uint8)
    label = ((x + 2 * y) % 7).astype(np.uint8)
    return tensor_pairs([image] * count, [label] * count)


def test_train_pipeline_crop_and_flip_keep_image_and_label_aligned():
    augment = Augmentation(crop_size=(16, 16), flip=True)
    batches = as_numpy(train_pipeline(coordinate_pairs(16), batch_size=4, augment=augment, seed=1))
    images, labels = np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])
    assert images.shape == (16, 16, 16, 3) and images.dtype == np.float32
    assert labels.shape == (16, 16, 16) and labels.dtype == np.int32
    x, y = images[..., 0] / 8, images[..., 1] / 12
    np.testing.assert_array_equal(labels, (x + 2 * y) % 7)
    flipped = x[:, 0, 0] > x[:, 0, -1]
    assert flipped.any() and not flipped.all()


def test_train_pipeline_is_reproducible_from_its_seed_and_new_every_epoch():
    augment = Augmentation(crop_size=(10, 10), flip=True, scale_range=(0.8, 1.5))

    def pipeline(seed, first_epoch=0, epochs=1):
        return train_pipeline(coordinate_pairs(8), batch_size=8, augment=augment, seed=seed,
                              first_epoch=first_epoch, epochs=epochs)

    first_epoch = next(iter(pipeline(5)))[0]
    np.testing.assert_array_equal(first_epoch, next(iter(pipeline(5)))[0])
    assert not np.array_equal(first_epoch, next(iter(pipeline(6)))[0])
    first, second, third = (batch[0] for batch in as_numpy(pipeline(5, epochs=3)))
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(first, first_epoch)
    # A run resumed at epoch 2 sees exactly what an uninterrupted one sees then.
    np.testing.assert_array_equal(next(iter(pipeline(5, first_epoch=2)))[0], third)


def test_the_augmentation_is_traced_once_for_all_the_epochs_of_a_run(monkeypatch):
    """U-Net's paper schedule chains 2,000 epochs: one graph of the augmentation serves them all."""
    traces, augment_ = [], pipeline._augment

    def counted(example, seed, augment, input_size):
        traces.append(1)  # Python runs only while TensorFlow traces the function
        return augment_(example, seed, augment, input_size)

    monkeypatch.setattr(pipeline, "_augment", counted)
    augment = Augmentation(crop_size=(10, 10), flip=True)
    batches = as_numpy(train_pipeline(coordinate_pairs(4), batch_size=2, augment=augment, seed=0, epochs=20))
    assert len(batches) == 40 and len(traces) == 1


def test_pixel_weights_are_computed_from_each_label_and_move_with_it():
    def weights_of(label):
        return label * 10.0 + 1.0

    augment = Augmentation(crop_size=(24, 24), flip=True, scale_range=(0.7, 1.3), elastic=(3, 4.0))
    batches = as_numpy(train_pipeline(coordinate_pairs(8), batch_size=4, augment=augment, seed=3,
                                      pixel_weights=weights_of))
    for _, labels, weights in batches:
        assert weights.shape == labels.shape and weights.dtype == np.float32
        labelled = labels != 255  # a crop larger than the scaled image pads
        np.testing.assert_array_equal(weights[labelled], weights_of(labels[labelled]))
        assert len(np.unique(labels[labelled])) == 7


def test_train_pipeline_caps_each_epoch_at_steps_per_epoch():
    batches = as_numpy(train_pipeline(coordinate_pairs(8), batch_size=2, seed=0, epochs=3, steps_per_epoch=2))
    assert len(batches) == 6


def test_train_pipeline_scale_resizes_label_by_nearest():
    augment = Augmentation(scale_range=(2.0, 2.0))
    (image, label), = as_numpy(train_pipeline(coordinate_pairs(1), batch_size=1, augment=augment, seed=0))
    assert image.shape == (1, 40, 60, 3) and label.shape == (1, 40, 60)
    _, original_label = as_numpy(coordinate_pairs(1))[0]
    np.testing.assert_array_equal(label[0], np.repeat(np.repeat(original_label, 2, 0), 2, 1))


def test_train_pipeline_random_scale_then_crop_gives_the_crop_size():
    augment = Augmentation(crop_size=(12, 12), scale_range=(0.5, 2.0))
    (images, labels), = as_numpy(train_pipeline(coordinate_pairs(8), batch_size=8, augment=augment, seed=0))
    assert images.shape == (8, 12, 12, 3) and labels.shape == (8, 12, 12)


def test_crop_larger_than_image_pads_label_with_ignore():
    image, label = random_image(0), camvid_label(3)
    augment = Augmentation(crop_size=(16, 20))
    (images, labels), = as_numpy(train_pipeline(tensor_pairs([image], [label]), batch_size=1, augment=augment))
    np.testing.assert_array_equal(labels[0, :HEIGHT, :WIDTH], label)
    np.testing.assert_array_equal(images[0, :HEIGHT, :WIDTH], image)
    assert (labels[0, HEIGHT:] == 255).all() and (labels[0, :, WIDTH:] == 255).all()
    assert (images[0, HEIGHT:] == 0).all() and (images[0, :, WIDTH:] == 0).all()


def test_train_pipeline_resizes_to_input_size_without_crop():
    (images, labels), = as_numpy(train_pipeline(coordinate_pairs(2), batch_size=2, input_size=(10, 15)))
    assert images.shape == (2, 10, 15, 3) and labels.shape == (2, 10, 15)


def test_eval_pipeline_resizes_the_image_but_not_the_label():
    (images, labels), = as_numpy(eval_pipeline(coordinate_pairs(2), batch_size=2, input_size=(32, 32)))
    assert images.shape == (2, 32, 32, 3) and images.dtype == np.float32
    assert labels.shape == (2, 20, 30) and labels.dtype == np.int32
    _, original_label = as_numpy(coordinate_pairs(1))[0]
    np.testing.assert_array_equal(labels[0], original_label)


def test_eval_pipeline_resizes_labels_by_nearest_for_validation():
    (_, labels), = as_numpy(eval_pipeline(coordinate_pairs(1), batch_size=1, input_size=(10, 15), resize_labels=True))
    _, original_label = as_numpy(coordinate_pairs(1))[0]
    np.testing.assert_array_equal(labels[0], original_label[1::2, 1::2])  # a pixel of each 2x2 block, no blend


@needs_shared_data("camvid/test.txt")
def test_real_camvid_test_images():
    camvid_dir = SHARED_DATA / "camvid"
    ds, info = datasets.load("camvid", "test", data_dir=camvid_dir)
    assert ds.cardinality() == 233
    for image, label in as_numpy(ds.take(3)):
        assert image.shape == (360, 480, 3) and label.shape == (360, 480)
        assert set(np.unique(label)) <= set(range(info.num_classes)) | {255}
