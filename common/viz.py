"""Colour label maps with a dataset's palette and lay them out as titled, legended PNGs.

Small inputs (64 x 64 toy sets) are enlarged to a readable height: labels with nearest
neighbours so that class borders stay sharp, the image bilinearly.
"""
import functools
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

IGNORE_COLOUR = (0, 0, 0)


def colorize(label, palette, ignore_label=255, ignore_colour=IGNORE_COLOUR):
    """H x W class ids -> H x W x 3 uint8; ignored pixels get `ignore_colour`."""
    table = np.zeros((256, 3), np.uint8)
    table[:len(palette)] = palette
    table[ignore_label] = ignore_colour
    return table[np.asarray(label, np.uint8)]


def comparison_panel(image, ground_truth, prediction, palette, class_names, ignore_label=255, alpha=0.5,
                     min_height=360):
    """image | ground truth over the image | prediction over the image, titled, above a colour legend.

    Panels have the label's aspect ratio and are at least `min_height` pixels tall; the legend
    lists every class, and "ignored" when the ground truth has ignored pixels.
    """
    size = display_size(np.shape(ground_truth), min_height)
    image = resize(image, size, Image.BILINEAR)
    entries = list(zip(palette, class_names))
    if np.any(np.asarray(ground_truth) == ignore_label):
        entries.append((IGNORE_COLOUR, "ignored"))
    return layout([("image", image),
                   ("ground truth", blend(image, resize(colorize(ground_truth, palette, ignore_label), size), alpha)),
                   ("prediction", blend(image, resize(colorize(prediction, palette), size), alpha))],
                  entries)


def prediction_overlay(image, prediction, palette, class_names, alpha=0.5, min_height=360):
    """The prediction coloured over the image, titled, above the same legend as `comparison_panel`."""
    size = display_size(np.shape(prediction), min_height)
    image = resize(image, size, Image.BILINEAR)
    overlay = blend(image, resize(colorize(prediction, palette), size), alpha)
    return layout([("prediction", overlay)], list(zip(palette, class_names)))


def display_size(shape, min_height):
    """PIL's (width, height) for an H x W map enlarged, keeping its aspect, to `min_height` rows."""
    height, width = shape[:2]
    scale = max(1.0, min_height / height)
    return round(width * scale), round(height * scale)


def resize(array, size, resample=Image.NEAREST):
    return np.asarray(Image.fromarray(np.asarray(array, np.uint8)).resize(size, resample))


def blend(image, colours, alpha):
    return (alpha * colours.astype(np.float32) + (1 - alpha) * image).astype(np.uint8)


def layout(titled_panels, legend_entries):
    """(title, H x W x 3 panel) pairs side by side, each under its title, above the legend."""
    font_size = max(14, titled_panels[0][1].shape[0] // 24)  # readable on large panels too
    strip = np.concatenate([titled(panel, title, font_size) for title, panel in titled_panels], axis=1)
    return np.concatenate([strip, legend(legend_entries, strip.shape[1], font_size)])


def titled(panel, title, font_size):
    bar = Image.new("RGB", (panel.shape[1], 2 * font_size), "white")
    ImageDraw.Draw(bar).text((panel.shape[1] / 2, font_size), title, fill="black", font=font(font_size), anchor="mm")
    return np.concatenate([np.asarray(bar), panel])


def legend(entries, width, font_size):
    """A white strip `width` wide: a swatch and a name per (colour, name), wrapped onto rows."""
    gap = font_size // 2
    placed, x, y = [], gap, gap
    for colour, name in entries:
        entry_width = font_size + gap + math.ceil(font(font_size).getlength(name)) + 2 * gap
        if x > gap and x + entry_width > width:
            x, y = gap, y + font_size + gap
        placed.append((x, y, colour, name))
        x += entry_width
    strip = Image.new("RGB", (width, y + font_size + gap), "white")
    draw = ImageDraw.Draw(strip)
    for x, y, colour, name in placed:
        # The grey outline keeps pale swatches visible on white; their inside is the exact colour.
        draw.rectangle([x, y, x + font_size - 1, y + font_size - 1], fill=tuple(colour), outline=(128, 128, 128))
        draw.text((x + font_size + gap, y + font_size / 2), name, fill="black", font=font(font_size), anchor="lm")
    return np.asarray(strip)


@functools.lru_cache
def font(size):
    return ImageFont.load_default(size=size)


def save_png(path, array):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, np.uint8)).save(path)
