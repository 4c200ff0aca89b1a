"""Colour label maps with a dataset's palette and write side-by-side comparison PNGs."""
from pathlib import Path

import numpy as np
from PIL import Image


def colorize(label, palette, ignore_label=255, ignore_colour=(0, 0, 0)):
    """H x W class ids -> H x W x 3 uint8; ignored pixels get `ignore_colour`."""
    table = np.zeros((256, 3), np.uint8)
    table[:len(palette)] = palette
    table[ignore_label] = ignore_colour
    return table[np.asarray(label, np.uint8)]


def comparison_panel(image, ground_truth, prediction, palette, ignore_label=255, alpha=0.5):
    """image | ground truth over the image | prediction over the image, at the label's size."""
    height, width = np.shape(ground_truth)
    image = np.asarray(Image.fromarray(np.asarray(image, np.uint8)).resize((width, height), Image.BILINEAR))

    def blend(label):
        colours = colorize(label, palette, ignore_label).astype(np.float32)
        return (alpha * colours + (1 - alpha) * image).astype(np.uint8)

    return np.concatenate([image, blend(ground_truth), blend(prediction)], axis=1)


def save_png(path, array):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, np.uint8)).save(path)
