"""Apply a trained checkpoint to new images, or export it for serving.

    python predict.py --checkpoint runs/NAME/model.keras photo.jpg more/ --output predictions/ [--crf]
    python predict.py --checkpoint runs/NAME/model.keras --export exported/ [--format savedmodel|onnx|litert]
    python predict.py --checkpoint enet_paper --export enet_int8/ --format litert --quantize int8|dynamic \
                      [--calibration-images 100]

For every image (files, or every image in a folder) it writes `<name>_labels.png`, the class ids as
a palette PNG at the image's original size, and `<name>_overlay.png`, the prediction coloured over
the image. Images of any size are resized to the model's input size (or overlap-tiled for
unpadded-convolution models such as U-Net) and the prediction is brought back to the original
size, as `evaluate.py` scores it.

`--export DIR` writes the model for serving (`experiment.prediction.export`): by default a
TensorFlow SavedModel whose `serve` endpoint takes a batch of uint8 RGB images of any (equal) size
and returns their uint8 label maps (`tf.saved_model.load(DIR).serve(images)`); `--format onnx` a
`model.onnx` for onnxruntime, `--format litert` a `model.tflite` for the LiteRT interpreter, both
from uint8 images at the model's input size to uint8 label maps; `--quantize int8` quantises a
LiteRT model's weights and activations, calibrated on images of the training data's train split,
`--quantize dynamic` its weights only. DIR/export.json
names what was exported, the calibration images, and how many pixels' labels agree with Keras'.
"""
import argparse

import segpapers.common.console  # noqa: F401 -- before any import of TensorFlow: its start is quiet on a CPU machine
from segpapers import papers
from segpapers.experiment import cli
from segpapers.experiment.prediction import FORMATS, QUANTIZATIONS, export, predict_files

EXPORT_NAMES = {"savedmodel": "SavedModel", "onnx": "ONNX model", "litert": "LiteRT model"}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="a .keras file written by train.py, a weight record's "
                        f"folder, or a record's name ({', '.join(papers.list_weights()) or 'none committed'})")
    parser.add_argument("inputs", nargs="*", help="image files and/or folders of images")
    parser.add_argument("--output", help="folder for the label and overlay PNGs")
    parser.add_argument("--crf", action="store_true", help="refine with the dense CRF (DeconvNet's parameters)")
    cli.add_xla_flag(parser)
    cli.add_symmetries_flag(parser)
    parser.add_argument("--export", metavar="DIR", help="write the model for serving instead (see --format)")
    parser.add_argument("--format", choices=FORMATS, default="savedmodel",
                        help="--export's format (default savedmodel; onnx and litert need the `export` extra)")
    parser.add_argument("--quantize", choices=QUANTIZATIONS, help="quantise a --format litert export: int8, "
                        "weights and activations, calibrated on --calibration-images images of the training data's "
                        "train split; dynamic, weights only")
    parser.add_argument("--calibration-images", type=int, default=100, metavar="N",
                        help="how many train images calibrate --quantize int8, spread evenly over the split "
                        "(default 100)")
    parser.add_argument("--dataset", help="the images of --export's calibration and agreement check (default: the "
                        "checkpoint's training data, from its config.json)")
    parser.add_argument("--data-dir", help="the --dataset's folder (default: the checkpoint's)")
    parser.add_argument("--overwrite", action="store_true", help="replace prediction files or an export that exist")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of a user error")
    args = parser.parse_args(argv)
    if not args.export and not (args.inputs and args.output):
        parser.error("give images and --output, or --export DIR")
    if args.export and args.inputs:
        parser.error("--export takes no images: its calibration and check images come from --dataset")
    return args


def main(argv=None):
    args = parse_args(argv)
    args.checkpoint = papers.resolve_checkpoint(args.checkpoint)
    if args.export:
        written = export(args.checkpoint, args.export, args.format, args.quantize, args.calibration_images,
                         args.dataset, args.data_dir, args.overwrite)
        print(f"{EXPORT_NAMES[args.format]}{' (' + args.quantize + ')' if args.quantize else ''} written to {written}")
    else:
        written = predict_files(args.checkpoint, args.inputs, args.output, {} if args.crf else None, args.xla,
                                args.symmetries, args.overwrite)
        print(f"predictions written to {written}")


if __name__ == "__main__":
    cli.run(main)
