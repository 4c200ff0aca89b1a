"""mnist_cifar on tiny files written here in Keras' mnist.npz, the shared subset's and CIFAR-10's
python-batch formats; the shared MNIST subset and natural backgrounds when present."""
import pickle

import numpy as np
import pytest
from PIL import Image

from segpapers import datasets
from tests.paths import SHARED_DATA, needs_shared_data

CIFAR_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
# Flat colour of each CIFAR file's images; the channels differ, so a wrong channel order shows.
CIFAR_COLOURS = {name: (40 * i + 10, 40 * i + 11, 40 * i + 12) for i, name in enumerate(CIFAR_FILES)}


def as_numpy(ds):
    images, labels = zip(*ds.as_numpy_iterator())
    return np.stack(images), np.stack(labels)


def digits(count):
    """A vertical bar with a soft rim, like an MNIST "1": white on black, 28x28."""
    digit = np.zeros((28, 28), np.uint8)
    digit[4:24, 10:18] = 90
    digit[5:23, 11:17] = 255
    return np.repeat(digit[None], count, axis=0)


def write_keras_mnist(path, train_classes=(0, 1, 2, 4, 5, 6, 7, 8, 9), test_classes=(3, 3)):
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x_train=digits(len(train_classes)), y_train=np.array(train_classes, np.uint8),
             x_test=digits(len(test_classes)), y_test=np.array(test_classes, np.uint8))


def write_subset(path, classes=range(10)):
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, images=digits(len(classes)), labels=np.array(classes, np.uint8))


def write_cifar(folder, colours=CIFAR_COLOURS):
    """Two flat images per batch file, pickled with bytes keys like the real (Python 2) files."""
    folder.mkdir(parents=True)
    for name, colour in colours.items():
        rows = np.repeat(np.array(colour, np.uint8), 32 * 32)[None].repeat(2, axis=0)  # R plane, G plane, B plane
        with (folder / name).open("wb") as file:
            pickle.dump({b"data": rows, b"labels": [0, 1]}, file)


@pytest.fixture
def data_dir(tmp_path):
    write_keras_mnist(tmp_path / "mnist.npz")
    write_cifar(tmp_path / "cifar-10-batches-py")
    return tmp_path


def test_scenes_shapes_classes_and_sizes(data_dir):
    ds, info = datasets.load("mnist_cifar", "val", data_dir=data_dir)
    assert ds.cardinality() == 200
    assert info.class_names == ("background",) + tuple("0123456789") and info.splits == ("train", "val", "test")
    images, labels = as_numpy(datasets.load("mnist_cifar", "train", data_dir=data_dir, num_images=6)[0])
    assert images.shape == (6, 64, 64, 3) and images.dtype == np.uint8
    assert labels.shape == (6, 64, 64) and labels.dtype == np.uint8
    assert set(np.unique(labels)) <= set(range(11)) | {255}
    images, _ = as_numpy(datasets.load("mnist_cifar", "train", data_dir=data_dir, num_images=2, image_size=(40, 56),
                                       digit_size=(12, 30))[0])
    assert images.shape == (2, 40, 56, 3)


def test_same_seed_same_scenes_other_seed_or_split_differs(data_dir):
    def scenes(split="train", seed=0):
        return as_numpy(datasets.load("mnist_cifar", split, data_dir=data_dir, num_images=4, seed=seed)[0])

    images, labels = scenes()
    again_images, again_labels = scenes()
    np.testing.assert_array_equal(images, again_images)
    np.testing.assert_array_equal(labels, again_labels)
    assert not np.array_equal(labels, scenes(seed=1)[1])
    assert not np.array_equal(images, scenes("val")[0])


def test_stroke_is_the_class_and_its_soft_edge_is_ignored(tmp_path):
    """White digits on black: each pixel's value is the digit's intensity, so the rule can be read off."""
    write_keras_mnist(tmp_path / "mnist.npz")
    write_cifar(tmp_path / "cifar-10-batches-py", {name: (0, 0, 0) for name in CIFAR_FILES})
    images, labels = as_numpy(datasets.load("mnist_cifar", "train", data_dir=tmp_path, num_images=20,
                                            digits_per_image=(1, 1), random_colour=False)[0])
    intensity = images[..., 0]
    assert (images == intensity[..., None]).all()
    np.testing.assert_array_equal((labels >= 1) & (labels <= 10), intensity > 127)
    np.testing.assert_array_equal(labels == 255, (intensity > 32) & (intensity <= 127))
    np.testing.assert_array_equal(labels == 0, intensity <= 32)
    assert (labels == 255).any() and (labels == 0).any()


@pytest.mark.parametrize("mnist_file, write", [("mnist.npz", write_keras_mnist),
                                               ("mnist/mnist_subset.npz", write_subset)])
def test_splits_draw_from_disjoint_digit_pools(tmp_path, mnist_file, write):
    """Every digit carries its own class here, so the classes a split shows are its pool."""
    write(tmp_path / mnist_file)
    write_cifar(tmp_path / "cifar-10-batches-py")
    seen = {}
    for split in ("train", "val", "test"):
        _, labels = as_numpy(datasets.load("mnist_cifar", split, data_dir=tmp_path, num_images=60)[0])
        seen[split] = set(np.unique(labels)) - {0, 255}
    assert [len(seen[split]) for split in ("train", "val", "test")] == [8, 1, 1]  # 8 of 10 or 9 digits; 1; 1
    assert seen["train"] | seen["val"] | seen["test"] == set(range(1, 11))
    if mnist_file == "mnist.npz":
        assert seen["test"] == {4}  # Keras' x_test, whose only class is "3"


def test_cifar_splits_use_their_own_batches(data_dir):
    for split, files in (("train", CIFAR_FILES[:4]), ("val", ["data_batch_5"]), ("test", ["test_batch"])):
        images, _ = as_numpy(datasets.load("mnist_cifar", split, data_dir=data_dir, num_images=12,
                                           digits_per_image=(0, 0))[0])
        colours = {tuple(colour) for colour in images.reshape(-1, 3)}
        assert colours <= {CIFAR_COLOURS[name] for name in files}, split


def test_natural_backgrounds_crop_their_split_region(tmp_path):
    """An image whose pixels hold their own row (R) and column (G): crops show where they came from."""
    rows, cols = np.mgrid[0:200, 0:160]
    Image.fromarray(np.stack([rows, cols, np.full_like(rows, 77)], -1).astype(np.uint8)).save(tmp_path / "coded.png")
    write_subset(tmp_path / "subset.npz")

    def crops(split, folder=tmp_path):
        return as_numpy(datasets.load("mnist_cifar", split, mnist=tmp_path / "subset.npz", backgrounds=folder,
                                      num_images=10, digits_per_image=(0, 0))[0])[0]

    train, val, test = crops("train"), crops("val"), crops("test")
    assert train[..., 0].max() <= 150 and min(val[..., 0].min(), test[..., 0].min()) >= 149  # top 3/4 of 200 rows
    assert val[..., 1].max() <= 80 and test[..., 1].min() >= 79  # bottom left vs bottom right of 160 columns
    assert (np.concatenate([train, val, test])[..., 2] == 77).all()
    (tmp_path / "gray").mkdir()
    Image.fromarray(rows.astype(np.uint8), "L").save(tmp_path / "gray" / "g.png")
    gray = crops("train", tmp_path / "gray")
    assert (gray == gray[..., :1]).all()


def test_missing_inputs_name_what_was_looked_for(tmp_path):
    with pytest.raises(FileNotFoundError, match="no data_dir given; pass mnist=PATH"):
        datasets.load("mnist_cifar", "train")
    with pytest.raises(FileNotFoundError, match="mnist.npz.*mnist_subset.npz"):
        datasets.load("mnist_cifar", "train", data_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="elsewhere.npz"):
        datasets.load("mnist_cifar", "train", data_dir=tmp_path, mnist=tmp_path / "elsewhere.npz")
    write_keras_mnist(tmp_path / "mnist.npz")
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py.*backgrounds.*pass backgrounds=PATH"):
        datasets.load("mnist_cifar", "train", data_dir=tmp_path)
    write_cifar(tmp_path / "cifar-10-batches-py", {name: (0, 0, 0) for name in CIFAR_FILES[:4] + ["test_batch"]})
    with pytest.raises(FileNotFoundError, match="data_batch_5"):
        datasets.load("mnist_cifar", "val", data_dir=tmp_path)


@needs_shared_data("mnist/mnist_subset.npz", "backgrounds")
def test_real_mnist_subset_on_natural_backgrounds():
    ds, info = datasets.load("mnist_cifar", "val", data_dir=SHARED_DATA, num_images=200)
    images, labels = as_numpy(ds)
    assert images.shape == (200, 64, 64, 3) and labels.shape == (200, 64, 64)
    assert set(np.unique(labels)) == set(range(info.num_classes)) | {255}
