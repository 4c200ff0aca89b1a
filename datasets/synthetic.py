"""Procedural shapes on textured backgrounds: the embedded default dataset (no files, no network).

In the spirit of MNIST digits pasted on natural images: every image holds 1-4 shapes (disc, square,
triangle, ring, cross) at random positions, sizes and rotations, later ones occluding earlier ones,
over a greyish gradient with multi-scale noise texture, plus pixel noise. Shapes are flat and
saturated, so finding them is easy; their hue is drawn independently of the class, so naming them
takes their shape.
Shapes cover roughly a third of the pixels, so predicting background everywhere scores a low mIoU.

Generation is deterministic from `seed`; each split derives its own seed stream from it.
"""
import functools

import numpy as np
import tensorflow as tf

from segpapers.datasets.base import DatasetInfo, color_map

SHAPES = ("disc", "square", "triangle", "ring", "cross")
SPLIT_SIZES = {"train": 600, "val": 100, "test": 200}
INFO = DatasetInfo("synthetic", ("background",) + SHAPES, color_map(len(SHAPES) + 1), tuple(SPLIT_SIZES))

# Outward normals of an equilateral triangle's edges.
_TRIANGLE_NORMALS = np.stack([np.cos(np.pi / 2 + np.arange(3) * 2 * np.pi / 3),
                              np.sin(np.pi / 2 + np.arange(3) * 2 * np.pi / 3)], axis=1)

# Shape membership in the shape's own rotated frame, coordinates in units of its radius.
_INSIDE = {
    "disc": lambda u, v: u ** 2 + v ** 2 <= 1,
    "square": lambda u, v: np.maximum(abs(u), abs(v)) <= 0.8,
    "triangle": lambda u, v: np.max(_TRIANGLE_NORMALS[:, :1, None] * u + _TRIANGLE_NORMALS[:, 1:, None] * v,
                                    axis=0) <= 0.7,  # area close to the square's
    "ring": lambda u, v: (u ** 2 + v ** 2 <= 1) & (u ** 2 + v ** 2 >= 0.3),
    "cross": lambda u, v: (np.minimum(abs(u), abs(v)) <= 0.3) & (np.maximum(abs(u), abs(v)) <= 1),
}


def info(data_dir=None, **options):
    """The classes do not depend on any option."""
    return INFO


def _value_noise(rng, y, x, cell):
    """Bilinearly interpolated Gaussian noise on a grid of `cell`-pixel cells."""
    grid = rng.normal(size=(int(y.max() // cell) + 2, int(x.max() // cell) + 2, 1))
    gy, gx = y / cell, x / cell
    y0, x0 = gy.astype(int), gx.astype(int)
    fy, fx = (gy - y0)[..., None], (gx - x0)[..., None]
    top = grid[y0, x0] * (1 - fx) + grid[y0, x0 + 1] * fx
    bottom = grid[y0 + 1, x0] * (1 - fx) + grid[y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def _background(rng, y, x):
    """A greyish gradient (slightly tinted) under multi-scale grey noise texture (2-16 px grains).

    Texture and low saturation tell the background from the flat, saturated shapes locally, as
    they tell natural-image backgrounds from pasted MNIST strokes; the class needs the outline.
    """
    height, width = y.shape
    direction = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(direction) * x / width + np.sin(direction) * y / height
    ramp = (ramp - ramp.min()) / (np.ptp(ramp) + 1e-6)
    start, end = rng.uniform(30, 225, (2, 1)) + rng.uniform(-15, 15, (2, 3))
    image = start + (end - start) * ramp[..., None]
    for cell in (2, 4, 8, 16):
        image += rng.uniform(5, 30) * _value_noise(rng, y, x, cell)
    return image


def _saturated_colour(rng):
    """A random hue: one channel high, one low, one anywhere, in random order."""
    return rng.permutation([rng.uniform(180, 255), rng.uniform(0, 255), rng.uniform(0, 70)])


def _scene(rng, y, x):
    height, width = y.shape
    image = _background(rng, y, x)
    label = np.zeros((height, width), np.uint8)
    for _ in range(rng.integers(1, 5)):
        class_id = rng.integers(1, len(SHAPES) + 1)
        radius = rng.uniform(0.15, 0.3) * min(height, width)
        center_y, center_x = rng.uniform(0, height), rng.uniform(0, width)
        angle = rng.uniform(-np.pi / 8, np.pi / 8)  # roughly upright: the outline, not its pose, is the task
        dy, dx = (y - center_y) / radius, (x - center_x) / radius
        inside = _INSIDE[SHAPES[class_id - 1]](np.cos(angle) * dx + np.sin(angle) * dy,
                                               np.cos(angle) * dy - np.sin(angle) * dx)
        image[inside] = _saturated_colour(rng)
        label[inside] = class_id
    image += rng.normal(0, 4, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8), label


def generate(num_images, image_size=(64, 64), seed=0):
    """(uint8 [N, H, W, 3] images, uint8 [N, H, W] labels) from one random stream."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:image_size[0], 0:image_size[1]].astype(np.float32)
    images, labels = zip(*(_scene(rng, y, x) for _ in range(num_images)))
    return np.stack(images), np.stack(labels)


def load(split, data_dir=None, image_size=(64, 64), num_images=None, seed=0):
    """`data_dir` is ignored: nothing is read from disk."""
    INFO.check_split(split)
    num_images = SPLIT_SIZES[split] if num_images is None else num_images
    return tf.data.Dataset.from_tensor_slices(_split(split, tuple(image_size), num_images, seed))


@functools.lru_cache(maxsize=6)
def _split(split, image_size, num_images, seed):
    """A split's arrays, generated once per process (a run loads its evaluation split twice, the tests load
    splits in many runs); read-only, so that no caller changes what the next one gets."""
    arrays = generate(num_images, image_size, [seed, INFO.splits.index(split)])  # a stream per split
    for array in arrays:
        array.setflags(write=False)
    return arrays
