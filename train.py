"""Train a registered model on a registered dataset, following the paper's schedule.

    python train.py --model segnet_basic --dataset camvid --data-dir ../shared/data/camvid \
        --epochs 100 --batch-size 4 --output runs/segnet_basic_camvid

Every default comes from the model's schedule (`papers.get_schedule(model, protocol)`); flags
override single values and the run's config.json records what was used. The run directory holds
`config.json`, `model.keras` (the checkpoint the schedule's selection rule picks), `history.csv`,
TensorBoard logs in `logs/`, and `backup/`: re-running the same command after an interruption
continues from the last completed epoch (Keras BackupAndRestore). At the end the selected
checkpoint is scored on `--eval-split` (test by default) and the results JSON is written.
"""
import argparse
import ast
import functools
import json
import math
import sys
from pathlib import Path

import keras
import tensorflow as tf

import datasets
import evaluate
import papers
from common import class_weights, results
from common.losses import SegmentationCrossEntropy
from common.schedule import CLASS_WEIGHTINGS, OPTIMIZERS, PRECISIONS, Stage
from common.training import (NonFiniteLoss, SelectedCheckpoint, StopOnNaN, TrainingClock, compile_for_training,
                             global_dtype_policy, save_model_atomically, transfer_weights)
from common.weight_map import unet_weight_map
from datasets.pipeline import Augmentation, eval_pipeline, fit_labels_to_output, train_pipeline


# Settings a resumed run must share with the run it continues (config.json keys).
RESUME_MUST_MATCH = ("model", "dataset", "num_classes", "input_size", "protocol", "schedule", "class_weights",
                     "steps_per_epoch", "seed", "model_options")


def size_flag(text):
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH such as 360x480, got {text!r}")
    return height, width


def model_option(text):
    key, separator, value = text.partition("=")
    if not separator or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help=f"one of {', '.join(papers.list_models())}")
    parser.add_argument("--dataset", help=f"one of {', '.join(datasets.list_datasets())} (default: the "
                        "schedule's; `synthetic` is the embedded one that needs no files)")
    parser.add_argument("--data-dir", help="dataset folder (every dataset but synthetic)")
    parser.add_argument("--output", required=True, help="run directory; re-running resumes it")
    parser.add_argument("--protocol", default="paper", help="which of the model's schedules to follow (default: paper)")
    schedule = parser.add_argument_group("schedule overrides (default: the schedule's value)")
    schedule.add_argument("--epochs", type=int)
    schedule.add_argument("--batch-size", type=int)
    schedule.add_argument("--optimizer", choices=OPTIMIZERS)
    schedule.add_argument("--learning-rate", type=float)
    schedule.add_argument("--input-size", type=size_flag, help="HEIGHTxWIDTH the model is built for (default: "
                          "the schedule's on its own dataset, else the size of the first training image)")
    schedule.add_argument("--class-weighting", choices=CLASS_WEIGHTINGS)
    schedule.add_argument("--precision", choices=PRECISIONS, help="Keras dtype policy (default: the schedule's, "
                          "float32): mixed_float16 for GPUs; mixed_bfloat16 for CPUs with AMX, where it trains the "
                          "convolution-heavy models several times faster (not ENet; BENCHMARKS.md)")
    parser.add_argument("--backbone-weights", help="local Keras VGG16 weights file for VGG-based models "
                        "(default: random init, recorded as a deviation in the results)")
    parser.add_argument("--model-option", action="append", default=[], type=model_option, metavar="KEY=VALUE",
                        help="extra builder argument, e.g. fc_channels=1024 for DeconvNet (Python literal values)")
    parser.add_argument("--steps-per-epoch", type=int, help="cap the optimizer steps per epoch (quick runs)")
    parser.add_argument("--val-steps", type=int, help="cap the validation batches per epoch (quick runs)")
    parser.add_argument("--eval-split", help="split scored at the end, or 'none' (default: the schedule's evaluation "
                        "split on its own dataset, else test, else val)")
    parser.add_argument("--num-classes", type=int, help="expected number of classes; an error if the data has another")
    parser.add_argument("--seed", type=int, default=0, help="seed for weights init and data order (default 0)")
    parser.add_argument("--deterministic", action="store_true",
                        help="TF op determinism (tf.config.experimental.enable_op_determinism); slower")
    parser.add_argument("--distribute", action="store_true", help="train on all local GPUs (tf.distribute.MirroredStrategy)")
    parser.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2), help="Keras fit verbosity")
    return parser.parse_args(argv)


def resolve_schedule(args):
    schedule = papers.get_schedule(args.model, args.protocol)
    args.dataset = args.dataset or schedule.dataset
    flags = {"epochs": args.epochs, "batch_size": args.batch_size, "optimizer": args.optimizer,
             "learning_rate": args.learning_rate, "class_weighting": args.class_weighting, "precision": args.precision}
    overrides = {key: value for key, value in flags.items() if value is not None}
    if args.class_weighting not in (None, schedule.class_weighting):
        overrides["class_weights"] = None  # the published weights belong to the schedule's weighting
    schedule = schedule.replace(**overrides)
    if args.dataset != schedule.dataset:
        # Size, crop, published class weights and the weight map belong to the paper's dataset.
        schedule = schedule.replace(class_weights=None, crop_size=None, weight_map=None)
    return schedule


def resolve_class_weights(schedule, train_source, info):
    """Returns (weights or None, where they came from)."""
    if schedule.class_weighting == "none":
        return None, "none"
    if schedule.class_weights is not None:
        return list(schedule.class_weights), f"published {schedule.class_weighting} weights ({schedule.source})"
    labels = (label for _, label in train_source.as_numpy_iterator())
    weights = class_weights.compute_class_weights(schedule.class_weighting, labels, info.num_classes, info.ignore_label)
    return [round(float(w), 6) for w in weights], f"{schedule.class_weighting} computed from the {info.name} train split"


def resolve_pixel_weights(schedule, info, class_weights):
    """The schedule's per-pixel loss weights as a function of a label image, or None.

    U-Net's eq. 2: w_c (`class_weights`, or 1) plus the border term between the objects, the
    connected regions of the class that is not the dataset's boundary class.
    """
    if schedule.weight_map is None:
        return None
    if info.boundary_class is None or info.num_classes != 2:
        raise SystemExit(f"the schedule's weight map (U-Net eq. 2) weights the boundaries between objects of a "
                         f"two-class boundary dataset; {info.name!r} is not one")
    w0, sigma = schedule.weight_map
    objects = 1 - info.class_names.index(info.boundary_class)
    return functools.partial(unet_weight_map, class_weights=class_weights or [1.0] * info.num_classes, w0=w0,
                             sigma=sigma, foreground=objects, ignore_label=info.ignore_label)


def callbacks(output, schedule, has_validation, stop_on_nan):
    # Order matters for a kill between callbacks: the selection and the clock record an epoch
    # before the backup does (a resumed run never skips them), and history.csv lists only epochs
    # the backup holds. The backup keeps the previous epoch's copy in case a kill truncates it.
    return [
        stop_on_nan,
        SelectedCheckpoint(output / "model.keras", schedule.select_by if has_validation else "last"),
        TrainingClock(output / "train_time.json"),
        keras.callbacks.TensorBoard(str(output / "logs"), write_graph=False, profile_batch=0),
        keras.callbacks.BackupAndRestore(str(output / "backup"), double_checkpoint=True),
        keras.callbacks.CSVLogger(str(output / "history.csv"), append=True),
    ]


def resumed_epoch(backup_dir):
    """The epoch Keras' BackupAndRestore will resume at (0 for a fresh run)."""
    metadata = Path(backup_dir) / "training_metadata.json"
    return results.read_json(metadata)["epoch"] if metadata.exists() else 0


def train_stage(stage, stage_dir, build, previous, schedule, loss, batches, steps_per_epoch, args):
    """Trains one stage in `stage_dir` (resumable) from `previous`'s weights; returns the selected model.

    `batches` is (a function of (first_epoch, epochs) giving the training stream, validation
    batches or None). A finished stage leaves `done.json` and is not trained again when the run is
    resumed.
    """
    stage_dir.mkdir(parents=True, exist_ok=True)
    strategy = tf.distribute.MirroredStrategy() if args.distribute else tf.distribute.get_strategy()
    if (stage_dir / "done.json").exists():
        with strategy.scope():
            return keras.models.load_model(stage_dir / "model.keras", compile=False, safe_mode=True)
    with strategy.scope():
        model = build(**stage.model_options)
        if previous is not None:
            transfer_weights(previous, model)
        stage_schedule = schedule.replace(learning_rate=stage.learning_rate or schedule.learning_rate,
                                          epochs=stage.epochs, stages=())
        compile_for_training(model, stage_schedule, loss, steps_per_epoch)
    output_size = model.output_shape[1:3]
    make_train_batches, val_batches = batches
    first_epoch = resumed_epoch(stage_dir / "backup")
    stream = make_train_batches(first_epoch=first_epoch, epochs=stage.epochs - first_epoch)
    train_batches = fit_labels_to_output(stream, args.input_size, output_size)
    if val_batches is not None:
        val_batches = fit_labels_to_output(val_batches, args.input_size, output_size)
    stop_on_nan = StopOnNaN()
    try:
        model.fit(train_batches, epochs=stage.epochs, steps_per_epoch=steps_per_epoch, validation_data=val_batches,
                  callbacks=callbacks(stage_dir, schedule, val_batches is not None, stop_on_nan),
                  verbose=args.verbose, shuffle=False)  # the pipeline shuffles
    except NonFiniteLoss as error:
        raise SystemExit(f"training stopped in stage {stage.name!r}: {error}") from None
    results.write_json(stage_dir / "done.json", {"stage": stage.name, "epochs": stage.epochs})
    with strategy.scope():
        return keras.models.load_model(stage_dir / "model.keras", compile=False, safe_mode=True)


def train(args):
    """Trains every stage of the schedule; returns the path of the final selected checkpoint."""
    schedule = resolve_schedule(args)
    with global_dtype_policy(schedule.precision):
        return train_schedule(args, schedule)


def train_schedule(args, schedule):
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(args.seed)
    if args.deterministic:
        tf.config.experimental.enable_op_determinism()
    train_source, info = datasets.load(args.dataset, "train", args.data_dir)
    if args.eval_split is None:
        preferred = [schedule.eval_split] if args.dataset == schedule.dataset else []
        args.eval_split = next(split for split in [*preferred, "test", "val", "none"] if split in (*info.splits, "none"))
    elif args.eval_split != "none":
        info.check_split(args.eval_split)  # fail now, not after training
    if args.num_classes is not None and args.num_classes != info.num_classes:
        raise SystemExit(f"--num-classes {args.num_classes} disagrees with dataset {args.dataset!r}, which has "
                         f"{info.num_classes} classes: {', '.join(info.class_names)}")
    if args.input_size is None:
        first_image_size = next(iter(train_source))[0].shape[:2]
        args.input_size = schedule.input_size if args.dataset == schedule.dataset else first_image_size
    input_size = args.input_size = tuple(int(v) for v in args.input_size)
    if schedule.crop_size:
        schedule = schedule.replace(crop_size=input_size)
    weights, weights_source = resolve_class_weights(schedule, train_source, info)
    pixel_weights = resolve_pixel_weights(schedule, info, weights)
    loss = SegmentationCrossEntropy(info.num_classes, None if pixel_weights else weights, info.ignore_label,
                                    schedule.loss_normalization)

    augment = Augmentation.of(schedule)
    steps_per_epoch = math.ceil(int(train_source.cardinality()) / schedule.batch_size)
    if args.steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, args.steps_per_epoch)
    train_batches = functools.partial(train_pipeline, train_source, schedule.batch_size, input_size, augment,
                                      seed=args.seed, steps_per_epoch=steps_per_epoch, pixel_weights=pixel_weights)
    val_batches = None
    if "val" in info.splits:
        val_source, _ = datasets.load(args.dataset, "val", args.data_dir)
        val_batches = eval_pipeline(val_source, schedule.batch_size, input_size, resize_labels=True)
        if args.val_steps:
            val_batches = val_batches.take(args.val_steps)

    options = dict(args.model_option)
    if args.backbone_weights:
        options["backbone_weights"] = args.backbone_weights
    build = functools.partial(papers.build_model, args.model, info.num_classes, (*input_size, 3), **options)
    stages = [stage for stage, _ in stage_dirs(schedule, output)]
    config = {
        "model": args.model,
        "dataset": args.dataset,
        "data_dir": str(Path(args.data_dir).resolve()) if args.data_dir else None,
        "protocol": args.protocol,
        "num_classes": info.num_classes,
        "class_names": list(info.class_names),
        "input_size": list(input_size),
        "schedule": schedule.to_dict(),
        "class_weights": weights,
        "class_weights_source": weights_source,
        "steps_per_epoch": steps_per_epoch,
        "seed": args.seed,
        "params": build().count_params(),
        "model_options": options,
        "deviations": papers.deviations(args.model, options),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "code_version": results.code_version(),
        "environment": results.environment(),
    }
    previous_path = output / "config.json"
    if previous_path.exists():
        previous = results.read_run_config(previous_path)
        differences = [f"{key}={previous.get(key)!r}, not {config[key]!r}" for key in RESUME_MUST_MATCH
                       if previous.get(key) != json.loads(json.dumps(config[key]))]
        if differences:
            raise SystemExit(f"{output} holds a run with {'; '.join(differences)}: resume it with its own "
                             "settings or choose another --output")
    results.write_json(previous_path, config)

    model = None
    for stage, stage_dir in stage_dirs(schedule, output):
        model = train_stage(stage, stage_dir, build, model, schedule, loss, (train_batches, val_batches),
                            steps_per_epoch, args)
    if len(stages) > 1:
        save_model_atomically(model, output / "model.keras")
    train_time = sum(results.read_json(stage_dir / "train_time.json")["seconds"]
                     for _, stage_dir in stage_dirs(schedule, output))
    results.write_json(output / "config.json", {**config, "train_wall_time_s": round(train_time, 1)})
    return output / "model.keras"


def stage_dirs(schedule, output):
    """(stage, the folder it trains in) for each stage of `schedule`; one stage trains in `output`."""
    stages = schedule.stages or (Stage("train", schedule.epochs),)
    return [(stage, Path(output) if len(stages) == 1 else Path(output) / stage.name) for stage in stages]


def main(argv=None):
    args = parse_args(argv)
    checkpoint = train(args)
    if args.eval_split != "none":
        evaluate.main(["--checkpoint", str(checkpoint), "--split", args.eval_split,
                       "--output", str(Path(args.output) / f"results_{args.dataset}_{args.eval_split}.json")])


if __name__ == "__main__":
    main()
