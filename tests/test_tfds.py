"""The TFDS builders (datasets/tfds_builders.py) and `--data-source tfds`: the prepared records hold
the file loaders' examples, example for example, on tiny files written here and on real ones."""
import json
import os
from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds

from segpapers import datasets, evaluate, train
from segpapers.benchmarks import input_pipeline
from segpapers.common.errors import DataError, UserError
from segpapers.datasets import camvid, isbi2012, tfds_builders
from tests.test_datasets import camvid_label, random_image, save, write_voc
from tests.test_isbi_elastic import write_isbi
from tests.test_mnist_cifar import write_cifar, write_keras_mnist
from tests.paths import SHARED_DATA, needs_shared_data

SPLIT_SIZES = {"train": 3, "val": 2, "test": 2}


def write_camvid_splits(root):
    """CamVid's layout with its three splits; names out of sorted order, so the list's order shows."""
    for split, count in SPLIT_SIZES.items():
        names = [f"{split}{index}" for index in reversed(range(count))]
        for index, name in enumerate(names):
            save(root / split / f"{name}.png", random_image(len(split) * 10 + index))
            save(root / f"{split}annot" / f"{name}.png", camvid_label(index))
        (root / f"{split}.txt").write_text("".join(f"{split}/{name}.png {split}annot/{name}.png\n" for name in names))
    return root


def write_voc_splits(root):
    voc, _ = write_voc(root, ["2007_000032", "2007_000039", "2007_000063"])
    lists = voc / "ImageSets" / "Segmentation"
    (lists / "val.txt").write_text("2007_000063\n")
    (lists / "trainval.txt").write_text((lists / "train.txt").read_text() + "2007_000063\n")
    return root


def write_isbi_slices(root):
    write_isbi(root, 7)  # train 0-1, val 2-6
    return root


def write_mnist_cifar(root):
    write_keras_mnist(root / "mnist.npz")
    write_cifar(root / "cifar-10-batches-py")
    return root


WRITERS = {"camvid": write_camvid_splits, "isbi2012": write_isbi_slices, "mnist_cifar": write_mnist_cifar,
           "voc": write_voc_splits}
OPTIONS = {"mnist_cifar": {"num_images": 6}}  # its default 2000/200/500 scenes take seconds to paste


def assert_same_examples(records, files):
    for spec, file_spec in zip(records.element_spec, files.element_spec, strict=True):  # mnist_cifar's: 64x64
        assert spec.dtype == file_spec.dtype and spec.shape.rank == file_spec.shape.rank
    assert int(records.cardinality()) == int(files.cardinality())
    for (image, label), (file_image, file_label) in zip(records.as_numpy_iterator(), files.as_numpy_iterator(),
                                                         strict=True):
        np.testing.assert_array_equal(image, file_image)
        np.testing.assert_array_equal(label, file_label)


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_records_hold_the_files_examples_in_their_order_for_every_split(tmp_path, name):
    folder = WRITERS[name](tmp_path / name)
    options = OPTIONS.get(name, {})
    for split in datasets.get_info(name).splits:
        files, info = datasets.load(name, split, folder, **options)
        records, records_info = datasets.load(name, split, folder, source="tfds", **options)
        assert records_info == info
        assert_same_examples(records, files)


def test_tfds_builder_finds_the_records_with_their_names_classes_and_version(tmp_path, scan_cache, capsys):
    folder = write_camvid_splits(tmp_path / "camvid")
    datasets.load("camvid", "val", folder, source="tfds")
    assert "preparing TFDS records of camvid" in capsys.readouterr().out
    builder = tfds.builder("camvid")  # registered by importing datasets.tfds_builders; its default data_dir
    assert Path(builder.data_dir).is_relative_to(scan_cache / "tfds") and builder.is_prepared()
    assert str(builder.info.version) == "1.0.0" and "1.0.0" in builder.info.release_notes
    metadata = builder.info.metadata
    assert metadata["class_names"] == list(camvid.CLASS_NAMES) and metadata["ignore_label"] == 255
    assert metadata["palette"][3] == [128, 64, 128] and metadata["source"] == str(folder.resolve())
    assert {split: info.num_examples for split, info in builder.info.splits.items()} == SPLIT_SIZES
    val = list(builder.as_dataset(split="val").as_numpy_iterator())
    assert [example["file_name"].decode() for example in val] == datasets.image_names("camvid", "val", folder)
    assert val[0]["label"].shape == (*camvid_label().shape, 1)
    assert builder.info.supervised_keys == ("image", "label")
    datasets.load("camvid", "test", folder, source="tfds")
    assert "preparing" not in capsys.readouterr().out  # prepared once
    # TFDS's own `voc` (boxes only) stays TFDS's; this project's VOC masks are `voc_segmentation`.
    assert tfds.builder_cls("voc") is not tfds_builders.VocSegmentation
    assert tfds.builder_cls("voc_segmentation") is tfds_builders.VocSegmentation


def test_plain_tfds_prepares_from_the_manual_dir_and_loads(tmp_path):
    folder = write_isbi_slices(tmp_path / "isbi")
    builder = tfds.builder("isbi2012", data_dir=tmp_path / "records")
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=folder))
    val = tfds.load("isbi2012", split="val", data_dir=tmp_path / "records", as_supervised=True)
    (image, label), *_ = val.as_numpy_iterator()
    (file_image, file_label), *_ = datasets.load("isbi2012", "val", folder)[0].as_numpy_iterator()
    np.testing.assert_array_equal(image, file_image)
    np.testing.assert_array_equal(label[..., 0], file_label)
    assert builder.info.metadata["boundary_class"] == isbi2012.INFO.boundary_class
    with pytest.raises(AssertionError, match="train/images/N.png"):  # its manual download instructions
        tfds.builder("isbi2012", data_dir=tmp_path / "other").download_and_prepare()


def test_options_are_their_own_config_and_changed_files_are_prepared_again(tmp_path, capsys):
    folder = write_isbi_slices(tmp_path / "isbi")
    three, _ = datasets.load("isbi2012", "val", folder, source="tfds", val_images=3)
    assert int(three.cardinality()) == 3
    assert int(datasets.load("isbi2012", "val", folder, source="tfds")[0].cardinality()) == 5
    label = folder / "train" / "labels" / "6.png"
    save(label, np.zeros((12, 12), np.uint8))
    os.utime(label, ns=(label.stat().st_atime_ns, label.stat().st_mtime_ns + 10 ** 9))
    capsys.readouterr()
    records, _ = datasets.load("isbi2012", "val", folder, source="tfds")
    assert "preparing" in capsys.readouterr().out
    assert_same_examples(records, datasets.load("isbi2012", "val", folder)[0])  # the new label, not the old


def test_bad_files_stop_the_preparation_as_they_stop_the_files_source(tmp_path):
    folder = write_camvid_splits(tmp_path / "camvid")
    save(folder / "valannot" / "val0.png", np.full((8, 12), 40, np.uint8))
    with pytest.raises(DataError, match=r"valannot/val0.png has pixel values \[40\]"):
        datasets.load("camvid", "train", folder, source="tfds")


def test_datasets_without_a_builder_and_unknown_sources_are_refused(tmp_path):
    with pytest.raises(UserError, match="'synthetic' has no TFDS builder.*camvid, isbi2012, mnist_cifar, voc"):
        datasets.load("synthetic", "train", source="tfds")
    with pytest.raises(ValueError, match="unknown data source 'hdf5'; valid sources: files, tfds"):
        datasets.load("camvid", "train", tmp_path, source="hdf5")
    with pytest.raises(DataError, match="--data-dir"):
        datasets.load("camvid", "train", source="tfds")
    with pytest.raises(DataError, match="unknown split 'training'"):
        datasets.load("camvid", "training", tmp_path, source="tfds")


@pytest.mark.slow
def test_train_and_evaluate_read_the_records_and_resume_a_run_started_from_files(tmp_path):
    folder = write_camvid_splits(tmp_path / "camvid")
    run = tmp_path / "run"
    flags = ["--model", "segnet_basic", "--data-dir", str(folder), "--input-size", "32x32", "--batch-size", "2",
             "--steps-per-epoch", "1", "--eval-split", "none", "--verbose", "0", "--precision", "float32",
             "--output", str(run)]
    train.main([*flags, "--epochs", "1"])
    train.main([*flags, "--epochs", "2", "--data-source", "tfds"])  # the same examples: it resumes
    config = json.loads((run / "config.json").read_text())
    assert config["data_source"] == "tfds" and config["schedule"]["epochs"] == 2
    checkpoint = ["--checkpoint", str(run / "model.keras"), "--split", "test", "--no-xla"]
    from_records = evaluate.main([*checkpoint, "--data-source", "tfds", "--output", str(tmp_path / "records.json")])
    from_files = evaluate.main([*checkpoint, "--output", str(tmp_path / "files.json")])
    assert from_records["num_images"] == 2 and from_records["confusion_matrix"] == from_files["confusion_matrix"]


@pytest.mark.slow
def test_the_input_pipeline_measurement_times_both_sources_on_the_same_images(tmp_path):
    folder = write_camvid_splits(tmp_path / "camvid")
    input_pipeline.main(["--camvid-dir", str(folder), "--repeats", "1", "--output", str(tmp_path / "speed.json")])
    measured = json.loads((tmp_path / "speed.json").read_text())
    assert measured["images"] == SPLIT_SIZES["train"] and measured["schedule"]["batch_size"] == 10  # ENet's
    for stage in ("train_pipeline_first_epoch", "decode_only"):
        assert measured[stage]["tfds"]["images_per_s_median"] > 0 and measured[stage]["files"]["images_per_s_all"]
    assert measured["bytes"]["tfds_records"] > 0


def link_camvid_subset(real, root, count=2):
    """A CamVid folder whose lists name the first `count` pairs of each of `real`'s splits (linked, not copied)."""
    root.mkdir()
    for split in ("train", "val", "test"):
        for folder in (split, f"{split}annot"):
            (root / folder).symlink_to(real / folder)
        lines = (real / f"{split}.txt").read_text().splitlines()[:count]
        (root / f"{split}.txt").write_text("\n".join(lines) + "\n")
    return root


def link_isbi_subset(real, root, count=7):
    """An ISBI folder of the first `count` labelled slices (2 train, 5 val), linked."""
    for folder in ("images", "labels"):
        (root / "train" / folder).mkdir(parents=True)
        for index in range(count):
            (root / "train" / folder / f"{index}.png").symlink_to(real / "train" / folder / f"{index}.png")
    return root


@pytest.mark.slow
@needs_shared_data("camvid/train.txt", "isbi2012/train", "mnist/mnist_subset.npz", "backgrounds")
def test_records_of_real_camvid_isbi_and_mnist_cifar_examples_equal_their_files(tmp_path):
    folders = {"camvid": link_camvid_subset(SHARED_DATA / "camvid", tmp_path / "camvid"),
               "isbi2012": link_isbi_subset(SHARED_DATA / "isbi2012", tmp_path / "isbi2012"),
               "mnist_cifar": SHARED_DATA}
    for name, folder in folders.items():
        options = OPTIONS.get(name, {})
        for split in datasets.get_info(name).splits:
            assert_same_examples(datasets.load(name, split, folder, source="tfds", **options)[0],
                                 datasets.load(name, split, folder, **options)[0])
    image, label = next(datasets.load("camvid", "test", folders["camvid"], source="tfds")[0].as_numpy_iterator())
    assert image.shape == (360, 480, 3) and set(np.unique(label)) <= {*range(11), 255}
