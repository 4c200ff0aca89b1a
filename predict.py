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

import segpapers.common.console  # noqa: F401 -- before any import of TensorFlow: its start is quiet on a CPU machine
from segpapers import papers
from segpapers.experiment import cli
from segpapers.experiment.prediction import export, predict_files


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="a .keras file written by train.py, a weight record's "
                        f"folder, or a record's name ({', '.join(papers.list_weights()) or 'none committed'})")
    parser.add_argument("inputs", nargs="*", help="image files and/or folders of images")
    parser.add_argument("--output", help="folder for the label and overlay PNGs")
    parser.add_argument("--crf", action="store_true", help="refine with the dense CRF (DeconvNet's parameters)")
    parser.add_argument("--xla", action=argparse.BooleanOptionalAction, default=True,
                        help="compile the network's forward pass whole with XLA (default); --no-xla: TensorFlow's graph")
    cli.add_symmetries_flag(parser)
    parser.add_argument("--export", metavar="DIR", help="write a SavedModel serving uint8 images instead")
    parser.add_argument("--overwrite", action="store_true", help="replace prediction files or an export that exist")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of a user error")
    args = parser.parse_args(argv)
    if not args.export and not (args.inputs and args.output):
        parser.error("give images and --output, or --export DIR")
    return args


def main(argv=None):
    args = parse_args(argv)
    args.checkpoint = papers.resolve_checkpoint(args.checkpoint)
    if args.export:
        print(f"SavedModel written to {export(args.checkpoint, args.export, args.overwrite)}")
    else:
        written = predict_files(args.checkpoint, args.inputs, args.output, {} if args.crf else None, args.xla,
                                args.symmetries, args.overwrite)
        print(f"predictions written to {written}")


if __name__ == "__main__":
    cli.run(main)
