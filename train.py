"""Train a registered model on a registered dataset, following the paper's schedule.

    python train.py --model segnet_basic --dataset camvid --data-dir ../shared/data/camvid \
        --epochs 100 --batch-size 4 --output runs/segnet_basic_camvid

Every default comes from the model's schedule (`papers.get_schedule(model, protocol)`); flags
override single values and the run's config.json records what was used. The run directory holds
`config.json`, `model.keras` (the checkpoint the schedule's selection rule picks), `history.csv`,
TensorBoard logs in `logs/`, and `backup/`: re-running the same command after an interruption
continues from the last completed epoch (Keras BackupAndRestore). At the end the selected
checkpoint is scored on `--eval-split` (test by default) and the results JSON is written.
The work is the run library's (`experiment.runs`, `experiment.scoring.score_checkpoint`).
"""
import argparse
from pathlib import Path

import segpapers.common.console  # noqa: F401 -- before any import of TensorFlow: its start is quiet on a CPU machine
from segpapers import datasets
from segpapers import papers
from segpapers.common.schedule import CLASS_WEIGHTINGS, OPTIMIZERS, PRECISIONS
from segpapers.common.training import DISTRIBUTIONS
from segpapers.experiment import Experiment, cli, fit
from segpapers.experiment.cli import argument_type
from segpapers.experiment.scoring import score_checkpoint
from segpapers.experiment.spec import FLAG_FIELDS, parse_model_option, parse_size


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help=f"one of {', '.join(papers.list_models())}")
    parser.add_argument("--dataset", help=f"one of {', '.join(datasets.list_datasets())} (default: the "
                        "schedule's; `synthetic` is the embedded one that needs no files)")
    parser.add_argument("--data-dir", help="dataset folder (every dataset but synthetic)")
    parser.add_argument("--data-source", choices=datasets.SOURCES, default="files", help="files: decode the "
                        "dataset's files (default); tfds: read TensorFlow Datasets records prepared once from them "
                        "(camvid, isbi2012, voc, mnist_cifar; README 'Datasets')")
    parser.add_argument("--output", required=True, help="run directory; re-running resumes it")
    parser.add_argument("--protocol", default="paper", help="which of the model's schedules to follow (default: paper)")
    schedule = parser.add_argument_group("schedule overrides (default: the schedule's value)")
    schedule.add_argument("--epochs", type=int)
    schedule.add_argument("--batch-size", type=int)
    schedule.add_argument("--optimizer", choices=OPTIMIZERS)
    schedule.add_argument("--learning-rate", type=float)
    schedule.add_argument("--input-size", type=argument_type(parse_size), help="HEIGHTxWIDTH the model is built for (default: "
                          "the schedule's on its own dataset, else the size of the first training image)")
    schedule.add_argument("--class-weighting", choices=CLASS_WEIGHTINGS)
    schedule.add_argument("--precision", choices=PRECISIONS, help="Keras dtype policy (default: the schedule's, "
                          "and float32 for a schedule's mixed_bfloat16 on a CPU without bfloat16 units): mixed_float16 "
                          "for GPUs; mixed_bfloat16 for CPUs with AMX, where it trains the convolution-heavy models "
                          "several times faster (not ENet; BENCHMARKS.md)")
    parser.add_argument("--backbone-weights", help="local Keras VGG16 weights file for VGG-based models "
                        "(default: random init, recorded as a deviation in the results)")
    parser.add_argument("--model-option", action="append", default=[], type=argument_type(parse_model_option), metavar="KEY=VALUE",
                        help="extra builder argument, e.g. fc_channels=1024 for DeconvNet (Python literal values)")
    parser.add_argument("--steps-per-epoch", type=int, help="cap the optimizer steps per epoch (quick runs)")
    parser.add_argument("--val-steps", type=int, help="cap the validation batches per epoch (quick runs)")
    parser.add_argument("--eval-split", help="split scored at the end, or 'none' (default: the schedule's evaluation "
                        "split on its own dataset, else test, else val)")
    parser.add_argument("--num-classes", type=int, help="expected number of classes; an error if the data has another")
    parser.add_argument("--seed", type=int, default=0, help="seed for weights init and data order (default 0)")
    parser.add_argument("--deterministic", action="store_true",
                        help="TF op determinism (tf.config.experimental.enable_op_determinism); slower")
    parser.add_argument("--distribute", nargs="?", const="mirrored", default="none", choices=DISTRIBUTIONS,
                        help="mirrored (the flag alone): all local GPUs, tf.distribute.MirroredStrategy; multi-worker: "
                        "data-parallel over several processes or hosts, KERAS_BACKEND=jax and Keras' distribution "
                        "variables (README, Keras backends)")
    parser.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2), help="Keras fit verbosity")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of a user error")
    return parser.parse_args(argv)


def experiment_of(args):
    """The Experiment the parsed flags describe."""
    return Experiment.of(
        args.model, args.output, args.protocol, args.dataset, args.backbone_weights, args.model_option,
        **{field: getattr(args, field) for field in FLAG_FIELDS}, data_dir=args.data_dir, input_size=args.input_size,
        data_source=args.data_source, seed=args.seed, eval_split=args.eval_split, num_classes=args.num_classes,
        steps_per_epoch=args.steps_per_epoch, val_steps=args.val_steps, deterministic=args.deterministic,
        distribute=args.distribute, verbose=args.verbose)


def main(argv=None):
    args = parse_args(argv)
    run = fit(experiment_of(args))
    if run.eval_split != "none":
        score_checkpoint(run.checkpoint, run.eval_split,
                         Path(args.output) / f"results_{run.experiment.dataset}_{run.eval_split}.json",
                         overwrite=True, data_source=args.data_source)  # the run's own scores of its checkpoint
    return run


if __name__ == "__main__":
    cli.run(main)
