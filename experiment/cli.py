"""What every CLI shares at its boundary: a user error is one message and exit status 2, not a traceback."""
import argparse
import re
import sys

from segpapers.common.console import debugging
from segpapers.common.errors import UserError


def argument_type(parse):
    """An argparse `type` from a parser that raises ValueError with its own message."""
    def convert(text):
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    convert.__name__ = parse.__name__
    return convert


def user_message(error):
    """The message of a user error, also when TensorFlow wrapped it in an op error of the tf.data graph
    (a dataset's reader raises DataError inside `tf.numpy_function`); None for any other error."""
    if isinstance(error, UserError):
        return str(error)
    # TF writes "<class name>: <message>" of the Python exception, then its traceback and op details.
    found = re.search(rf"\b(?:{'|'.join(user_error_names())}): (.*?)(?:\n|$)", getattr(error, "message", None) or "")
    return found.group(1) if found else None


def user_error_names():
    names, classes = set(), [UserError]
    while classes:
        cls = classes.pop()
        names.add(cls.__name__)
        classes += cls.__subclasses__()
    return sorted(names)


def add_xla_flag(parser):
    """--xla / --no-xla: the forward pass compiled whole by XLA or TensorFlow's graph (evaluate.py, predict.py)."""
    from segpapers.experiment.inference import XLA_FASTER

    parser.add_argument("--xla", action=argparse.BooleanOptionalAction,
                        help="compile the network's forward pass whole with XLA (--no-xla: TensorFlow's graph); "
                             "default: whichever was faster on this project's CPU, XLA for "
                             f"{', '.join(sorted(XLA_FASTER))}, the graph for the others")


def add_symmetries_flag(parser):
    """--symmetries N: test-time averaging over rotated and flipped inputs (evaluate.py, predict.py)."""
    parser.add_argument("--symmetries", type=argument_type(_symmetries), metavar="N",
                        help="average the probabilities over N of the image's 8 rotated/flipped versions, 1 = none "
                             "(default: the training schedule's test_time_symmetries; U-Net's paper recipe: 8)")


def _symmetries(text):
    count = int(text)
    if not 1 <= count <= 8:
        raise ValueError(f"{count}: between 1 (the image as it is) and 8 (all its rotations and flips)")
    return count


def run(main, argv=None):
    """Calls `main(argv)`; a user error prints `error: ...` and exits with status 2 (its traceback with
    `--debug` or SEGPAPERS_DEBUG=1, `common.console.debugging`)."""
    argv = sys.argv[1:] if argv is None else argv
    debug = debugging(argv)
    try:
        return main(argv)
    except Exception as error:
        message = user_message(error)
        if message is None or debug:
            raise
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
