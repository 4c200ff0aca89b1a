"""Apply a trained checkpoint to new images, or export it for serving.

    python predict.py --checkpoint runs/NAME/model.keras photo.jpg more/ --output predictions/ [--crf]
    python predict.py --checkpoint runs/NAME/model.keras --export exported/

For every image (files, or every image in a folder) it writes `<name>_labels.png`, the class ids as
a palette PNG at the image's original size, and `<name>_overlay.png`, the prediction coloured over
the image. Images of any size are resized to the model's input size (or overlap-tiled for
unpadded-convolution models such as U-Net) and the prediction is brought back to the original
size, as `evaluate.py` scores it.

`--export DIR` writes a TensorFlow SavedModel whose `serve` endpoint takes a batch of uint8 RGB
images of any (equal) size and returns their uint8 label maps; load it with
`tf.saved_model.load(DIR).serve(images)`.
"""
import argparse
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from PIL import Image

import datasets
import evaluate
from common import viz
from common.crf import CrfPool

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}


def image_paths(inputs):
    """Files as given, folders expanded to their images (sorted); a missing path is an error."""
    paths = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(p for p in item.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise SystemExit(f"{item}: no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
            paths += found
        elif item.is_file():
            paths.append(item)
        else:
            raise SystemExit(f"{item}: no such file or folder")
    stems = {}
    for path in paths:  # outputs are named by stem: two inputs must not write the same files
        if path.stem in stems:
            raise SystemExit(f"{stems[path.stem]} and {path} would both write {path.stem}_labels.png; rename one")
        stems[path.stem] = path
    return paths


def read_image(path):
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except Exception as error:  # Pillow raises several types for damaged files
        raise SystemExit(f"cannot read image {path}: {error}") from error


def palette_of(config, num_classes):
    """The training dataset's palette, or the VOC colour map when the checkpoint has no config."""
    if config.get("dataset"):
        return datasets.get_info(config["dataset"], config.get("data_dir")).palette
    return datasets.base.color_map(num_classes)


def save_label_png(path, labels, palette):
    image = Image.fromarray(labels.astype(np.uint8), mode="P")
    image.putpalette([value for colour in palette for value in colour])
    image.save(path)


def predict(checkpoint, inputs, output, crf_params=None, xla=True):
    model, config = evaluate.load_checkpoint(checkpoint)
    palette = palette_of(config, model.output_shape[-1])
    predictor = evaluate.predictor(model, evaluate.trained_on_crops(config), xla)
    paths = image_paths(inputs)
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    pool = CrfPool(crf_params) if crf_params is not None else None
    progress = keras.utils.Progbar(len(paths), unit_name="image")
    for path in paths:
        image = read_image(path)
        labels, probs = (t.numpy()[0] for t in predictor(tf.constant(image[None], tf.float32)))
        if pool is not None:
            labels = pool.submit(image, probs).result()[0]
        save_label_png(output / f"{path.stem}_labels.png", labels, palette)
        overlay = 0.5 * viz.colorize(labels, palette).astype(np.float32) + 0.5 * image
        viz.save_png(output / f"{path.stem}_overlay.png", overlay)
        progress.add(1)
    if pool is not None:
        pool.close()
    return output


def export(checkpoint, directory):
    """A SavedModel serving uint8 images of any size -> uint8 label maps (same size)."""
    model, config = evaluate.load_checkpoint(checkpoint)
    if evaluate.by_tiles(model, evaluate.trained_on_crops(config)):
        raise SystemExit(f"{model.name}: export serves whole images resized to the model's input, but this model "
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
    archive.write_out(str(directory))
    return Path(directory)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="a .keras file written by train.py")
    parser.add_argument("inputs", nargs="*", help="image files and/or folders of images")
    parser.add_argument("--output", help="folder for the label and overlay PNGs")
    parser.add_argument("--crf", action="store_true", help="refine with the dense CRF (DeconvNet's parameters)")
    parser.add_argument("--xla", action=argparse.BooleanOptionalAction, default=True,
                        help="compile the network's forward pass whole with XLA (default); --no-xla: TensorFlow's graph")
    parser.add_argument("--export", metavar="DIR", help="write a SavedModel serving uint8 images instead")
    args = parser.parse_args(argv)
    if not args.export and not (args.inputs and args.output):
        parser.error("give images and --output, or --export DIR")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.export:
        print(f"SavedModel written to {export(args.checkpoint, args.export)}")
    else:
        written = predict(args.checkpoint, args.inputs, args.output, {} if args.crf else None, args.xla)
        print(f"predictions written to {written}")


if __name__ == "__main__":
    main()
