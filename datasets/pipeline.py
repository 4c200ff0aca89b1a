"""The shared input steps: decode image/label file pairs, then augment, resize and batch for
training, or resize and batch for evaluation.

This is the TensorFlow-only part of the project (tf.data, tf.image); everything a model sees after
it is a plain float32 image (0..255, models normalise their own inputs) and an int32 label map.

Files are decoded with Pillow inside `tf.numpy_function`, not with `tf.io.decode_png`: label PNGs
are often palette ('P') images whose pixel values are class indices, which `decode_png` would
expand into the palette's RGB colours.
"""
import functools
import hashlib
import math
import os
from dataclasses import dataclass

import numpy as np
import tensorflow as tf
from PIL import Image

from segpapers.common.errors import DataError, MissingFile
from segpapers.datasets.base import IGNORE_LABEL
from segpapers.datasets.scan import scan_pairs

AUTOTUNE = tf.data.AUTOTUNE


@dataclass(frozen=True)
class Augmentation:
    """Random training transforms, applied identically to image and targets in this order: scale ->
    rotation and elastic deformation (one resampling) -> gray values -> mirrored border -> crop (a
    random shift) -> flip."""
    crop_size: tuple[int, int] | None = None  # (height, width); a smaller image is padded: image 0, label ignore
    flip: bool = False  # horizontal flip with probability 1/2
    scale_range: tuple[float, float] | None = None  # rescale by a factor drawn uniformly from this range
    # U-Net's elastic deformation: (grid points per side, displacement std in pixels), the paper's (3, 10.0)
    elastic: tuple[int, float] | None = None
    rotation: float | None = None  # rotate about the centre by an angle drawn uniformly from +-rotation degrees
    # Gray-value variation: (shift of the black and the white point, as a fraction of the range, drawn
    # uniformly from +-value; the largest gamma factor, gamma drawn log-uniformly from [1/value, value])
    gray_values: tuple[float, float] | None = None
    # U-Net's overlap-tile training (sec. 2, Fig. 2): extend the image by this many mirrored pixels on
    # every side before the crop, so that a crop's output (its centre, smaller by this border) lies
    # anywhere inside the image and every pixel of it is supervised, with mirrored context around it.
    mirror_border: int | None = None

    @classmethod
    def of(cls, schedule):
        """The transforms a `common.schedule.Schedule` names."""
        return cls(crop_size=schedule.crop_size, flip=schedule.flip, scale_range=schedule.scale_range,
                   elastic=schedule.elastic, rotation=schedule.rotation, gray_values=schedule.gray_values,
                   mirror_border=schedule.mirror_border)


def label_map_from(values, num_classes):
    """A 256-entry lookup table from raw mask values to labels, for a {raw: label} dict.

    Raw values missing from `values` map to `num_classes`, which `read_pair` rejects: a stray value
    is reported, never silently relabelled.
    """
    table = np.full(256, num_classes, np.uint8)
    for raw, label in values.items():
        table[raw] = label
    return table


def _read_image(path):
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))  # grayscale, palette and RGBA inputs alike
    except Exception as error:  # Pillow raises OSError, SyntaxError or zlib errors depending on the damage
        raise DataError(f"cannot decode image {path}: {error}") from error


def _read_label(path):
    try:
        with Image.open(path) as label:
            mode = label.mode
            array = np.asarray(label.convert("L") if mode == "1" else label)  # '1': binary masks as 0/255
    except Exception as error:
        raise DataError(f"cannot decode label {path}: {error}") from error
    if array.dtype != np.uint8 or array.ndim != 2:
        raise DataError(f"label {path} is a mode {mode} image; expected 8-bit single-channel class ids (mode L or P)")
    return array


def read_pair(image_path, label_path, label_map=None, *, num_classes, ignore_label=IGNORE_LABEL):
    """Decode and check one example: (uint8 H x W x 3 RGB image, uint8 H x W label).

    `label_map` (256-entry lookup table) turns raw mask values into labels. Any label that is
    neither a class id 0..num_classes-1 nor `ignore_label` is an error naming the file and the raw
    values, as is an unreadable file or an image and label of different sizes.
    """
    image_path, label_path = os.fsdecode(image_path), os.fsdecode(label_path)  # numpy_function passes bytes
    image, raw = _read_image(image_path), _read_label(label_path)
    if image.shape[:2] != raw.shape:
        raise DataError(f"size mismatch: image {image_path} is {image.shape[0]}x{image.shape[1]} (HxW), "
                         f"label {label_path} is {raw.shape[0]}x{raw.shape[1]}")
    label = raw if label_map is None else label_map[raw]
    invalid = (label >= num_classes) & (label != ignore_label)
    if invalid.any():
        raise DataError(f"label {label_path} has pixel values {np.unique(raw[invalid]).tolist()} outside the "
                         f"dataset's labels ({num_classes} classes, ignore {ignore_label})")
    return image, label


def decode_pairs(image_paths, label_paths, num_classes, ignore_label=IGNORE_LABEL, label_map=None):
    """Dataset of decoded (image, label) pairs in the given order. Every pair is checked here, eagerly:
    missing files, then one read of each pair not read before (`datasets.scan`)."""
    image_paths, label_paths = [str(path) for path in image_paths], [str(path) for path in label_paths]
    if len(image_paths) != len(label_paths):
        raise DataError(f"{len(image_paths)} images but {len(label_paths)} labels")
    if not image_paths:
        raise DataError("no image/label pairs to load")
    for image_path, label_path in zip(image_paths, label_paths):
        for path in (image_path, label_path):
            if not os.path.isfile(path):
                raise MissingFile(f"missing file {path} (pair: image {image_path}, label {label_path})")
    read = functools.partial(read_pair, label_map=label_map, num_classes=num_classes, ignore_label=ignore_label)
    mapping = "none" if label_map is None else hashlib.sha256(np.asarray(label_map).tobytes()).hexdigest()[:12]
    scan_pairs(zip(image_paths, label_paths), read, f"classes {num_classes}, ignore {ignore_label}, map {mapping}")

    def decode(image_path, label_path):
        image, label = tf.numpy_function(read, [image_path, label_path], [tf.uint8, tf.uint8], stateful=False)
        image.set_shape([None, None, 3])
        label.set_shape([None, None])
        return image, label

    paths = tf.data.Dataset.from_tensor_slices((image_paths, label_paths))
    return paths.map(decode, num_parallel_calls=AUTOTUNE, deterministic=True)


# The augmentations below move per-pixel targets `[H, W, C]` with the image: channel 0 is the
# label, channel 1 (when the schedule names one) the loss weight map.


def _resize_pair(image, targets, size):
    image = tf.image.resize(image, size)  # bilinear
    targets = tf.image.resize(targets, size, method="nearest")  # class ids must not be blended
    return image, targets


def _random_scale(image, targets, scale_range, seed):
    factor = tf.random.stateless_uniform([], seed, *scale_range)
    size = tf.cast(tf.round(tf.cast(tf.shape(targets)[:2], tf.float32) * factor), tf.int32)
    return _resize_pair(image, targets, size)


def _random_crop(image, targets, crop_size, seed):
    height, width = crop_size
    pad = tf.maximum(crop_size - tf.shape(targets)[:2], 0)
    image = tf.pad(image, [[0, pad[0]], [0, pad[1]], [0, 0]])
    # Padding is ignored (its weight is irrelevant: an ignored pixel's loss is 0 whatever its weight).
    targets = tf.pad(targets, [[0, pad[0]], [0, pad[1]], [0, 0]], constant_values=IGNORE_LABEL)
    slack = tf.cast(tf.shape(targets)[:2] - crop_size + 1, tf.float32)
    top, left = tf.unstack(tf.cast(tf.random.stateless_uniform([2], seed) * slack, tf.int32))
    return tf.slice(image, [top, left, 0], [height, width, 3]), tf.slice(targets, [top, left, 0], [height, width, -1])


def _mirror(coords, limit):
    """Coordinates reflected into [0, limit] without repeating the edge pixel (np.pad's "reflect")."""
    coords = tf.math.floormod(coords, tf.maximum(2 * limit, 1))
    return tf.clip_by_value(limit - tf.abs(limit - coords), 0, limit)


def _random_warp(image, targets, rotation, elastic, rotation_seed, elastic_seed):
    """Rotation about the image centre by an angle from +-`rotation` degrees, and U-Net's elastic
    deformation (sec. 3.1): displacements drawn from N(0, sigma^2) pixels on a coarse grid_points x
    grid_points grid (`elastic`), interpolated bicubically to every pixel (tf.image.resize: the grid
    values sit at the centres of a grid_points x grid_points partition of the image). Each pixel
    samples the input once at its moved position, mirrored at the border: the image bilinearly, the
    targets at the nearest pixel, so class ids are never blended.
    """
    size = tf.shape(targets)[:2]
    limit = tf.cast(size - 1, tf.float32)
    rows, cols = tf.meshgrid(tf.range(limit[0] + 1), tf.range(limit[1] + 1), indexing="ij")
    y, x = rows, cols
    if rotation:
        angle = tf.random.stateless_uniform([], rotation_seed, -rotation, rotation) * (math.pi / 180)
        centre_y, centre_x = limit[0] / 2, limit[1] / 2
        dy, dx = rows - centre_y, cols - centre_x
        y = centre_y + tf.cos(angle) * dy - tf.sin(angle) * dx
        x = centre_x + tf.sin(angle) * dy + tf.cos(angle) * dx
    if elastic:
        grid_points, sigma = elastic
        coarse = tf.random.stateless_normal([1, grid_points, grid_points, 2], elastic_seed, stddev=sigma)
        displacement = tf.image.resize(coarse, size, method="bicubic")[0]
        y, x = y + displacement[..., 0], x + displacement[..., 1]
    y, x = _mirror(y, limit[0]), _mirror(x, limit[1])

    def at(yy, xx):
        return tf.gather_nd(image, tf.cast(tf.stack([yy, xx], -1), tf.int32))

    y0, x0 = tf.floor(y), tf.floor(x)
    y1, x1 = tf.minimum(y0 + 1, limit[0]), tf.minimum(x0 + 1, limit[1])
    wy, wx = (y - y0)[..., None], (x - x0)[..., None]
    image = (1 - wy) * ((1 - wx) * at(y0, x0) + wx * at(y0, x1)) + wy * ((1 - wx) * at(y1, x0) + wx * at(y1, x1))
    targets = tf.gather_nd(targets, tf.cast(tf.stack([tf.round(y), tf.round(x)], -1), tf.int32))
    return image, targets


def _random_gray_values(image, point_shift, max_gamma, seed):
    """A random monotone gray-value curve: black and white points moved by up to `point_shift` of the
    0..255 range, then a gamma drawn log-uniformly from [1/max_gamma, max_gamma]; clipped to 0..255."""
    black, white, log_gamma = tf.unstack(tf.random.stateless_uniform([3], seed, -1.0, 1.0))
    black, white = 255 * point_shift * black, 255 * (1 + point_shift * white)
    normalised = tf.clip_by_value((image - black) / (white - black), 0.0, 1.0)
    return 255 * normalised ** tf.exp(log_gamma * math.log(max_gamma))


def _mirror_pad(image, targets, border):
    paddings = [[border, border], [border, border], [0, 0]]
    return tf.pad(image, paddings, mode="REFLECT"), tf.pad(targets, paddings, mode="REFLECT")


def _random_flip(image, targets, seed):
    flip = tf.random.stateless_uniform([], seed) < 0.5
    return tf.cond(flip, lambda: (tf.reverse(image, [1]), tf.reverse(targets, [1])), lambda: (image, targets))


def _augment(example, seed, augment, input_size):
    """(image, label[, weights]) -> the same, augmented: float32 image, int32 label, float32 weights."""
    image, label, *weights = example
    image = tf.cast(image, tf.float32)
    targets = tf.stack([tf.cast(label, tf.float32), *weights], axis=-1)
    # More seeds leave the first ones unchanged: stateless_split(seed, n)[:3] == stateless_split(seed, 3).
    scale_seed, crop_seed, flip_seed, elastic_seed, rotation_seed, gray_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, 6))
    if augment.scale_range:
        image, targets = _random_scale(image, targets, augment.scale_range, scale_seed)
    if augment.rotation or augment.elastic:
        image, targets = _random_warp(image, targets, augment.rotation, augment.elastic, rotation_seed, elastic_seed)
    if augment.gray_values:
        image = _random_gray_values(image, *augment.gray_values, gray_seed)
    if augment.mirror_border:
        image, targets = _mirror_pad(image, targets, augment.mirror_border)
    if augment.crop_size:
        image, targets = _random_crop(image, targets, augment.crop_size, crop_seed)
    elif input_size:
        image, targets = _resize_pair(image, targets, input_size)
    if augment.flip:
        image, targets = _random_flip(image, targets, flip_seed)
    return (image, tf.cast(targets[..., 0], tf.int32), *tf.unstack(targets[..., 1:], axis=-1))


def _with_pixel_weights(pixel_weights, image, label):
    weights = tf.numpy_function(lambda x: np.asarray(pixel_weights(x), np.float32), [label], tf.float32,
                                stateful=False)
    return image, label, tf.ensure_shape(weights, label.shape)


def train_pipeline(ds, batch_size, input_size=None, augment=Augmentation(), shuffle_buffer=1000, seed=None,
                   cache=True, first_epoch=0, epochs=1, steps_per_epoch=None, pixel_weights=None):
    """Decoded examples -> shuffled, augmented batches of (float32 image 0..255, int32 label).

    `input_size` (height, width) resizes every example when there is no random crop; with a crop
    the crop size is the input size. The stream holds `epochs` epochs from `first_epoch` on (each
    at most `steps_per_epoch` batches); an epoch's order and augmentations depend only on `seed`
    and its index, so a run resumed at epoch k sees exactly what an uninterrupted run would.

    `pixel_weights` (numpy function of a label image, e.g. U-Net's eq. 2 map
    `common.weight_map.unet_weight_map`) adds a third element, the float32 loss weight of every
    pixel: computed once per example from its ground truth, as the paper pre-computes it, and
    moved by the same augmentations as the label. Keras' `fit` takes it as the sample weight.
    """
    if pixel_weights is not None:
        ds = ds.map(functools.partial(_with_pixel_weights, pixel_weights), num_parallel_calls=AUTOTUNE,
                    deterministic=True)
    if cache:
        ds = ds.cache()  # decoded uint8 examples; before augmentation, which must differ every epoch
    seed = int(np.random.default_rng().integers(2 ** 31)) if seed is None else seed
    # Traced once: each epoch's map calls the same graph function (a map of a plain Python function traces
    # it again, which for U-Net's 2,000 epochs took minutes and gigabytes before the first step).
    augment_fn = tf.function(functools.partial(_augment, augment=augment, input_size=input_size))

    num_examples = int(ds.cardinality())

    def one_epoch(epoch):
        epoch_seed = seed * 100_003 + epoch
        shuffled = ds.shuffle(shuffle_buffer, seed=epoch_seed, reshuffle_each_iteration=False)
        # A stateless seed per example: (epoch seed, position in the epoch).
        seeds = np.stack([np.full(num_examples, epoch_seed), np.arange(num_examples)], axis=1)
        examples = tf.data.Dataset.zip(shuffled, tf.data.Dataset.from_tensor_slices(seeds))
        batches = examples.map(augment_fn, num_parallel_calls=AUTOTUNE).batch(batch_size)
        return batches.take(steps_per_epoch) if steps_per_epoch else batches

    # Epochs are chained in Python (tf.data's shuffle takes its seed as a constant), as a balanced
    # tree of concatenations so that fetching a batch does not walk a chain of hundreds.
    epochs = [one_epoch(epoch) for epoch in range(first_epoch, first_epoch + epochs)] or [one_epoch(0).take(0)]
    while len(epochs) > 1:
        epochs = [a.concatenate(b) for a, b in zip(epochs[::2], epochs[1::2])] + epochs[len(epochs) // 2 * 2:]
    return epochs[0].prefetch(AUTOTUNE)


def eval_pipeline(ds, batch_size, input_size=None, cache=False, resize_labels=False, mirror_border=None):
    """Decoded examples -> batches of (float32 image, resized to `input_size` if given; int32 label
    at its original size, since scores are computed at the labels' own resolution).

    `resize_labels` also resizes the labels (nearest): for validation inside `fit`, whose metrics
    compare labels with the model's output at its input size. With `mirror_border` (overlap-tile
    training) validation stays at the data's own scale instead: image and labels extended by that
    many mirrored pixels on every side and centre-cropped to `input_size`, so that the model's output
    covers the centre of each image (the whole image is scored by tiles after training).
    """
    if cache:
        ds = ds.cache()

    def prepare(image, label):
        image = tf.cast(image, tf.float32)
        if input_size and mirror_border:
            image, label = _mirror_pad(image, tf.cast(label, tf.int32)[..., None], mirror_border)
            image = tf.image.resize_with_crop_or_pad(image, *input_size)
            # An input larger than the extended image is padded with 0: the labels there are ignored.
            label = tf.image.resize_with_crop_or_pad(label - IGNORE_LABEL, *input_size)[..., 0] + IGNORE_LABEL
        elif input_size and resize_labels:
            image, label = _resize_pair(image, label[..., None], input_size)
            label = label[..., 0]
        elif input_size:
            image = tf.image.resize(image, input_size)
        return image, tf.cast(label, tf.int32)

    return ds.map(prepare, num_parallel_calls=AUTOTUNE).batch(batch_size).prefetch(AUTOTUNE)


def fit_labels_to_output(batches, input_size, output_size):
    """Maps batched labels at `input_size` onto a model output of `output_size`.

    The same size: unchanged. The input strided by an integer k, rounding up as ceil-mode pooling
    does (ENet's encoder stage predicts at 1/8): nearest-neighbour subsampling, the pixel at each
    output cell's top-left. Smaller by an even border (U-Net's unpadded convolutions): the centred
    crop the output covers. Pixel weights, when the batches carry them, follow the labels.
    """
    (in_h, in_w), (out_h, out_w) = input_size, output_size
    if (in_h, in_w) == (out_h, out_w):
        return batches

    def each_target(window):  # the label and the pixel weights, if any, alike
        return batches.map(lambda image, *targets: (image, *(target[window] for target in targets)),
                           num_parallel_calls=AUTOTUNE)

    for stride in {max(1, in_h // out_h), in_h // out_h + 1}:
        if math.ceil(in_h / stride) == out_h and math.ceil(in_w / stride) == out_w and stride > 1:
            return each_target(np.s_[:, ::stride, ::stride])
    border_h, border_w = in_h - out_h, in_w - out_w
    if border_h >= 0 and border_w >= 0 and border_h % 2 == 0 and border_w % 2 == 0:
        top, left = border_h // 2, border_w // 2
        return each_target(np.s_[:, top:top + out_h, left:left + out_w])
    raise ValueError(f"cannot match labels of size {input_size} to a model output of size {output_size}: "
                     "expected the same size, an integer stride of it, or a centred crop")
