"""MNIST digits pasted on CIFAR-10 (or natural-image) backgrounds: 11 classes, background and "0".."9".

Nothing is downloaded. `load` reads two sources, each an explicit path or found under `data_dir`:
  mnist        a `.npz` of digits: Keras' `mnist.npz` (x_train, y_train, x_test, y_test) or the
               shared subset (images, labels; ../shared/data/README.md sec. 3); under `data_dir`:
               `mnist.npz`, then `mnist/mnist_subset.npz`.
  backgrounds  CIFAR-10's python batches (a folder holding data_batch_1..5, test_batch), each
               image upsampled to the canvas; or a folder of .png/.jpg images (RGB or grayscale),
               random crops of which are resized to the canvas (README sec. 4); under `data_dir`:
               `cifar-10-batches-py/`, then `backgrounds/`.
So `--data-dir ../shared/data` works from the CLI, which passes only `data_dir`.

Each scene pastes `digits_per_image` (inclusive range) digits, each scaled to a random square size
in `digit_size` pixels at a random position fully inside the canvas, later ones over earlier ones.
A digit's intensity (0..255 after resampling) is its opacity over the background; its colour is
white, or with `random_colour` (default) drawn per channel from 0..96 or 160..255, whichever lies
away from the background's mean under the stroke, so no digit vanishes into its background.

Label rule, per pixel, from the topmost digit whose intensity there exceeds EDGE_THRESHOLD:
class + 1 where that intensity exceeds STROKE_THRESHOLD (the stroke), 255 (ignore) in between (the
anti-aliased edge, neither clearly digit nor background); 0 where no digit exceeds EDGE_THRESHOLD.

Splits draw from disjoint pools, fixed whatever `seed` is: digits from Keras' file take test from
x_test and train/val 90/10 from a fixed permutation of x_train; the subset file's digits are split
80/10/10 by a fixed permutation. CIFAR backgrounds: train data_batch_1..4, val data_batch_5, test
test_batch. Natural images: train crops lie in each image's top 3/4, val in the bottom-left
quarter-height strip, test in the bottom-right. Scenes are deterministic from `seed` and the split.
"""
import pickle
from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image

from segpapers.datasets.base import IGNORE_LABEL, DatasetInfo, color_map
from segpapers.datasets.folder import IMAGE_SUFFIXES

CLASS_NAMES = ("background",) + tuple(str(digit) for digit in range(10))
SPLIT_SIZES = {"train": 2000, "val": 200, "test": 500}
INFO = DatasetInfo("mnist_cifar", CLASS_NAMES, color_map(len(CLASS_NAMES)), tuple(SPLIT_SIZES))
STROKE_THRESHOLD, EDGE_THRESHOLD = 127, 32
POOL_SEED = 0  # the digit pools' permutation: the same for every scene seed, so splits never share digits
MNIST_CANDIDATES = ("mnist.npz", "mnist/mnist_subset.npz")
BACKGROUND_CANDIDATES = ("cifar-10-batches-py", "backgrounds")
CIFAR_BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 5)], "val": ["data_batch_5"], "test": ["test_batch"]}
# Natural images: each split's crop region as ((top, bottom), (left, right)) fractions of the image.
CROP_REGIONS = {"train": ((0, 0.75), (0, 1)), "val": ((0.75, 1), (0, 0.5)), "test": ((0.75, 1), (0.5, 1))}
CROP_SCALES = (0.5, 2.0)  # crop side / canvas side, capped by the region's size


def info(data_dir=None, **options):
    """The classes do not depend on any option."""
    return INFO


def _locate(path, data_dir, candidates, option, what):
    """`path` if given, else the first of `candidates` under `data_dir` that exists."""
    looked = [Path(path)] if path is not None else [Path(data_dir) / name for name in candidates] if data_dir else []
    for candidate in looked:
        if candidate.exists():
            return candidate
    found = f"none of {', '.join(map(str, looked))} exists" if looked else "no data_dir given"
    raise FileNotFoundError(f"mnist_cifar needs {what}: {found}; pass {option}=PATH or a data_dir holding "
                            f"{' or '.join(candidates)} (nothing is downloaded)")


def _digit_pool(path, split):
    """(uint8 [N, h, w] digits, their classes) of `split`'s pool."""
    with np.load(path) as data:
        if {"x_train", "y_train", "x_test", "y_test"} <= set(data.files):
            if split == "test":
                return data["x_test"], data["y_test"]
            digits, classes, pools = data["x_train"], data["y_train"], {"train": 0.9, "val": 0.1}
        elif {"images", "labels"} <= set(data.files):
            digits, classes, pools = data["images"], data["labels"], {"train": 0.8, "val": 0.1, "test": 0.1}
        else:
            raise ValueError(f"{path} holds {data.files}; expected Keras' mnist.npz keys (x_train, y_train, x_test, "
                             "y_test) or the subset's (images, labels)")
    order = np.random.default_rng(POOL_SEED).permutation(len(classes))
    ends = np.round(np.cumsum(list(pools.values())) * len(order)).astype(int)
    pool = dict(zip(pools, np.split(order, ends[:-1])))[split]
    if not len(pool):
        raise ValueError(f"{path} has too few digits to give the {split} split any")
    return digits[pool], classes[pool]


def _read_cifar(folder, split):
    """uint8 [N, 32, 32, 3] images of `split`'s CIFAR-10 batches."""
    rows = []
    for name in CIFAR_BATCHES[split]:
        path = folder / name
        if not path.is_file():
            raise FileNotFoundError(f"CIFAR-10 batch not found: {path} ({split} backgrounds come from "
                                    f"{', '.join(CIFAR_BATCHES[split])})")
        with path.open("rb") as file:
            rows.append(pickle.load(file, encoding="bytes")[b"data"])  # the real files are Python 2 pickles
    return np.concatenate(rows).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # rows are channel-major


def _read_natural(folder):
    paths = sorted(path for path in folder.iterdir() if path.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise FileNotFoundError(f"no CIFAR-10 batches (data_batch_1, test_batch) nor {'/'.join(IMAGE_SUFFIXES)} "
                                f"images in {folder}")
    images = []
    for path in paths:
        with Image.open(path) as image:
            images.append(np.asarray(image.convert("RGB")))
    return images


def _coords(start, length, num):
    """Pixel-centre coordinates of `num` output pixels spanning [start, start + length) of the input,
    one row per start (half-pixel convention, as tf.image.resize)."""
    start, length = np.asarray(start, np.float32)[..., None], np.asarray(length, np.float32)[..., None]
    return start + (np.arange(num, dtype=np.float32) + 0.5) * length / num - 0.5


def _bilinear(images, index, ys, xs):
    """float32 [n, H, W(, C)]: images[index[k]] sampled bilinearly at rows ys[k] x columns xs[k];
    coordinates past the border take the edge pixel."""
    height, width = images.shape[1:3]
    ys, xs = np.clip(ys, 0, height - 1), np.clip(xs, 0, width - 1)
    y0, x0 = np.minimum(ys.astype(int), height - 2), np.minimum(xs.astype(int), width - 2)
    wy, wx = (ys - y0).astype(np.float32)[:, :, None], (xs - x0).astype(np.float32)[:, None, :]
    if images.ndim == 4:
        wy, wx = wy[..., None], wx[..., None]
    k, y0, x0 = index[:, None, None], y0[:, :, None], x0[:, None, :]
    top_left, top_right = images[k, y0, x0].astype(np.float32), images[k, y0, x0 + 1]
    bottom_left, bottom_right = images[k, y0 + 1, x0].astype(np.float32), images[k, y0 + 1, x0 + 1]
    top = top_left + (top_right - top_left) * wx
    return top + (bottom_left + (bottom_right - bottom_left) * wx - top) * wy


def _cifar_backgrounds(rng, pool, count, image_size):
    index = rng.integers(0, len(pool), count)
    (height, width), (size_y, size_x) = image_size, pool.shape[1:3]
    ys, xs = _coords(np.zeros(count), size_y, height), _coords(np.zeros(count), size_x, width)
    return _bilinear(pool, index, ys, xs)


def _crop_backgrounds(rng, images, split, count, image_size):
    """Random crops (of `image_size`'s aspect) from `split`'s region of random images, resized to the canvas."""
    height, width = image_size
    choice, scale = rng.integers(0, len(images), count), rng.uniform(*CROP_SCALES, count)
    corner = rng.uniform(size=(count, 2))
    backgrounds = np.empty((count, height, width, 3), np.float32)
    (top, bottom), (left, right) = CROP_REGIONS[split]
    for i, image in enumerate(images):
        picked = choice == i
        region_y, region_x = top * image.shape[0], left * image.shape[1]
        region_h, region_w = (bottom - top) * image.shape[0], (right - left) * image.shape[1]
        crop_scale = np.minimum(scale[picked], min(region_h / height, region_w / width))
        crop_h, crop_w = crop_scale * height, crop_scale * width
        ys = _coords(region_y + corner[picked, 0] * (region_h - crop_h), crop_h, height)
        xs = _coords(region_x + corner[picked, 1] * (region_w - crop_w), crop_w, width)
        backgrounds[picked] = _bilinear(image[None], np.zeros(picked.sum(), int), ys, xs)
    return backgrounds


def _paste_digits(rng, backgrounds, digits, classes, digits_per_image, digit_size, random_colour):
    """(uint8 [N, H, W, 3] images, uint8 [N, H, W] labels): digits drawn over the float32 [N, H, W, 3]
    `backgrounds`, in place, and labelled by the module's rule."""
    count, height, width = backgrounds.shape[:3]
    low, high = digits_per_image
    if digit_size[1] > min(height, width):
        raise ValueError(f"digit_size {digit_size} does not fit in a {height}x{width} image")
    per_image = rng.integers(low, high + 1, count)
    which, sizes = rng.integers(0, len(digits), (count, high)), rng.uniform(*digit_size, (count, high))
    tops, lefts = rng.uniform(size=(count, high)) * (height - sizes), rng.uniform(size=(count, high)) * (width - sizes)
    tints = rng.uniform(size=(count, high, 3)).astype(np.float32)
    padded = np.pad(digits, ((0, 0), (1, 1), (1, 1)))  # a zero border: samples outside the digit read 0
    digit_h, digit_w = digits.shape[1:]
    images, labels = backgrounds, np.zeros((count, height, width), np.uint8)
    for slot in range(high):
        scenes = np.flatnonzero(per_image > slot)
        size, digit = sizes[scenes, slot], which[scenes, slot]
        ys = _coords(1 - tops[scenes, slot] * digit_h / size, height * digit_h / size, height)
        xs = _coords(1 - lefts[scenes, slot] * digit_w / size, width * digit_w / size, width)
        intensity = np.rint(_bilinear(padded, digit, ys, xs))
        stroke, edge = intensity > STROKE_THRESHOLD, intensity > EDGE_THRESHOLD
        below = images[scenes]
        if random_colour:
            weights = (stroke / np.maximum(stroke.sum((1, 2), keepdims=True), 1)).astype(np.float32)
            under = np.matmul(weights.reshape(len(scenes), 1, height * width),
                              below.reshape(len(scenes), height * width, 3))[:, 0]  # mean colour under the stroke
            colour = np.where(under > 127, tints[scenes, slot] * 96, 160 + tints[scenes, slot] * 95)
        else:
            colour = np.full((len(scenes), 3), 255)
        alpha = intensity[..., None] / 255
        images[scenes] = below + (colour[:, None, None, :].astype(np.float32) - below) * alpha
        labels[scenes] = np.where(stroke, classes[digit, None, None] + 1,
                                  np.where(edge, IGNORE_LABEL, labels[scenes]))
    return np.clip(np.rint(images), 0, 255).astype(np.uint8), labels


def sources(data_dir=None, mnist=None, backgrounds=None):
    """(the digits' .npz file, the backgrounds' folder) that `load` reads."""
    mnist_path = _locate(mnist, data_dir, MNIST_CANDIDATES, "mnist",
                         "MNIST digits (Keras' mnist.npz or mnist_subset.npz)")
    background_dir = _locate(backgrounds, data_dir, BACKGROUND_CANDIDATES, "backgrounds",
                             "backgrounds (CIFAR-10's cifar-10-batches-py folder or a folder of images)")
    return mnist_path, background_dir


def load(split, data_dir=None, mnist=None, backgrounds=None, image_size=(64, 64), digits_per_image=(1, 3),
         digit_size=(20, 36), random_colour=True, num_images=None, seed=0):
    """`mnist` and `backgrounds` override what `data_dir` holds; `num_images` defaults to SPLIT_SIZES."""
    INFO.check_split(split)
    mnist_path, background_dir = sources(data_dir, mnist, backgrounds)
    digits, classes = _digit_pool(mnist_path, split)
    count = SPLIT_SIZES[split] if num_images is None else num_images
    rng = np.random.default_rng([seed, INFO.splits.index(split)])  # independent streams for train, val and test
    if (background_dir / "data_batch_1").is_file() or (background_dir / "test_batch").is_file():
        scenery = _cifar_backgrounds(rng, _read_cifar(background_dir, split), count, image_size)
    else:
        scenery = _crop_backgrounds(rng, _read_natural(background_dir), split, count, image_size)
    images, labels = _paste_digits(rng, scenery, digits, classes, digits_per_image, digit_size, random_colour)
    return tf.data.Dataset.from_tensor_slices((images, labels))
