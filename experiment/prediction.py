"""Applying a checkpoint to image files, and exporting it for serving (predict.py's library).

TensorFlow-only: the export is a TF SavedModel.
"""
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from PIL import Image

from segpapers import datasets
from segpapers.common import viz
from segpapers.common.crf import CrfPool
from segpapers.common.errors import UserError
from segpapers.experiment.inference import by_tiles, load_checkpoint, predictor, test_time_symmetries, trained_on_crops

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}


def image_paths(inputs):
    """Files as given, folders expanded to their images (sorted); a missing path is an error."""
    paths = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(p for p in item.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise UserError(f"{item}: no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
            paths += found
        elif item.is_file():
            paths.append(item)
        else:
            raise UserError(f"{item}: no such file or folder")
    stems = {}
    for path in paths:  # outputs are named by stem: two inputs must not write the same files
        if path.stem in stems:
            raise UserError(f"{stems[path.stem]} and {path} would both write {path.stem}_labels.png; rename one")
        stems[path.stem] = path
    return paths


def read_image(path):
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except Exception as error:  # Pillow raises several types for damaged files
        raise UserError(f"cannot read image {path}: {error}") from error


def palette_of(config, num_classes):
    """The training dataset's palette, or the VOC colour map when the checkpoint has no config."""
    if config.get("dataset"):
        return datasets.get_info(config["dataset"], config.get("data_dir")).palette
    return datasets.base.color_map(num_classes)


def save_label_png(path, labels, palette):
    image = Image.fromarray(labels.astype(np.uint8), mode="P")
    image.putpalette([value for colour in palette for value in colour])
    image.save(path)


def predict_files(checkpoint, inputs, output, crf_params=None, xla=True, symmetries=None, overwrite=False):
    """Writes `<name>_labels.png` and `<name>_overlay.png` into `output` for every image of `inputs`,
    averaged over `symmetries` rotated/flipped versions (default: the run's schedule's). Files already
    there are replaced only with `overwrite`, checked before the model loads."""
    paths, output = image_paths(inputs), Path(output)
    existing = [target for stem in (path.stem for path in paths) for target in (output / f"{stem}_labels.png", output / f"{stem}_overlay.png")
                if target.exists()]
    if existing and not overwrite:
        raise UserError(f"{existing[0]} exists ({len(existing)} of the {2 * len(paths)} files this would write): "
                        "pass --overwrite to replace them, or another --output")
    model, config = load_checkpoint(checkpoint)
    palette = palette_of(config, model.output_shape[-1])
    class_names = config.get("class_names") or [f"class {index}" for index in range(model.output_shape[-1])]
    predict = predictor(model, trained_on_crops(config), xla,
                        test_time_symmetries(config) if symmetries is None else symmetries)
    output.mkdir(parents=True, exist_ok=True)
    pool = CrfPool(crf_params) if crf_params is not None else None
    progress = keras.utils.Progbar(len(paths), unit_name="image")
    for path in paths:
        image = read_image(path)
        labels, probs = (t.numpy()[0] for t in predict(tf.constant(image[None], tf.float32)))
        if pool is not None:
            labels = pool.submit(image, probs).result()[0]
        save_label_png(output / f"{path.stem}_labels.png", labels, palette)
        viz.save_png(output / f"{path.stem}_overlay.png", viz.prediction_overlay(image, labels, palette, class_names))
        progress.add(1)
    if pool is not None:
        pool.close()
    return output


def export(checkpoint, directory, overwrite=False):
    """A SavedModel serving uint8 images of any size -> uint8 label maps (same size); a non-empty
    `directory` is replaced only with `overwrite`."""
    if Path(directory).is_dir() and any(Path(directory).iterdir()) and not overwrite:
        raise UserError(f"{directory} exists and is not empty: pass --overwrite to replace it, or another --export")
    model, config = load_checkpoint(checkpoint)
    if by_tiles(model, trained_on_crops(config)):
        raise UserError(f"{model.name}: export serves whole images resized to the model's input, but this model "
                         "predicts by overlap-tiles (unpadded convolutions, or trained on crops): use predict.py")
    input_size = model.input_shape[1:3]

    def serve(images):
        pixels = tf.cast(images, tf.float32)
        inputs = pixels if None in input_size else tf.image.resize(pixels, input_size)
        logits = tf.image.resize(tf.cast(model(inputs, training=False), tf.float32), tf.shape(images)[1:3])
        return tf.cast(tf.argmax(logits, axis=-1), tf.uint8)

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", serve, input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)])
    archive.write_out(str(directory), verbose=False)  # verbose: the endpoint's signature and every captured variable
    return Path(directory)
