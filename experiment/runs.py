"""Training an `Experiment`: every stage of its schedule, resumable, with the run folder's bookkeeping.

The run directory holds `config.json` (what was run: every effective value), `model.keras` (the
checkpoint the schedule's selection rule picks), `history.csv`, TensorBoard `logs/`, `train_time.json`
and `backup/`: fitting the same experiment again after an interruption continues from the last
completed epoch (Keras BackupAndRestore); a multi-stage schedule trains each stage in its own folder.
"""
import csv
import dataclasses
import functools
import json
import math
import sys
from pathlib import Path

import keras
import tensorflow as tf

from segpapers import datasets
from segpapers import papers
from segpapers.common import checkpoints, class_weights, results
from segpapers.common.errors import UserError
from segpapers.common.initialization import initialize
from segpapers.common.losses import SegmentationCrossEntropy
from segpapers.common.schedule import Stage, schedule_differences, without_prose
from segpapers.common.training import (BatchNormStatistics, NonFiniteLoss, SelectedCheckpoint, StopOnNaN, TrainingClock,
                             compile_for_training, copy_atomically, global_dtype_policy, machine_precision,
                             save_model_atomically, start_multi_worker, transfer_weights)
from segpapers.common.weight_map import unet_weight_map
from segpapers.datasets.pipeline import Augmentation, eval_pipeline, fit_labels_to_output, train_pipeline
from segpapers.experiment.spec import Experiment

# Settings a resumed run must share with the run it continues (config.json keys).
RESUME_MUST_MATCH = ("model", "dataset", "num_classes", "input_size", "protocol", "schedule", "class_weights",
                     "stage_class_weights", "steps_per_epoch", "seed", "model_options")


@dataclasses.dataclass(frozen=True)
class Run:
    """A fitted experiment: its folder, selected checkpoint, recorded config and resolved settings."""

    experiment: Experiment
    checkpoint: Path
    config: dict
    eval_split: str


def fit(experiment):
    """Trains every stage of `experiment`'s schedule (resuming whatever its folder holds); returns the Run."""
    if experiment.distribute == "multi-worker":  # before anything starts the backend's runtime
        worker = start_multi_worker(experiment.schedule.batch_size)
        if worker:  # the chief writes the run; every other worker keeps its own copy, to resume from
            experiment = dataclasses.replace(experiment, output=Path(experiment.output) / "workers" / str(worker),
                                             eval_split="none")
    # Not a resume setting: a schedule adopts mixed_bfloat16 only where it trains like float32
    # (benchmarks.precision_ab); train_time.json records each sitting's policy.
    precision, fallback = machine_precision(experiment.schedule, asked=experiment.asked_precision is not None)
    if fallback:
        print(f"training in {precision}, not the schedule's {experiment.schedule.precision}: {fallback} "
              f"(--precision {experiment.schedule.precision} keeps it)")
    with global_dtype_policy(precision):
        return _fit(experiment)


def _fit(experiment):
    output = Path(experiment.output)
    keras.utils.set_random_seed(experiment.seed)
    if experiment.deterministic:
        tf.config.experimental.enable_op_determinism()
    train_source, info = datasets.load(experiment.dataset, "train", experiment.data_dir, experiment.data_source)
    eval_split = resolve_eval_split(experiment, info)
    if eval_split != "none":  # its files checked now, not after training
        datasets.load(experiment.dataset, eval_split, experiment.data_dir, experiment.data_source)
    if experiment.num_classes is not None and experiment.num_classes != info.num_classes:
        raise UserError(f"--num-classes {experiment.num_classes} disagrees with dataset {experiment.dataset!r}, which "
                        f"has {info.num_classes} classes: {', '.join(info.class_names)}")
    output.mkdir(parents=True, exist_ok=True)  # only once the data is known to be there
    schedule, input_size = run_schedule(experiment, train_source)
    weights, weights_source = resolve_class_weights(schedule, train_source, info)
    pixel_weights = resolve_pixel_weights(schedule, info, weights)

    def loss_with(weights):
        return SegmentationCrossEntropy(info.num_classes, None if pixel_weights else weights, info.ignore_label,
                                        schedule.loss_normalization)

    # A stage with its own weighting options (ENet's encoder: c = 1.2 in e-lab's code) weights its own way.
    stage_weights = {stage.name: resolve_class_weights(
        schedule.replace(class_weighting_options=stage.class_weighting_options), train_source, info)[0]
        for stage in schedule.stages if stage.class_weighting_options is not None}
    batches, steps_per_epoch = run_batches(experiment, schedule, train_source, info, input_size, pixel_weights)

    options = {**experiment.schedule.model_options, **experiment.model_options}  # the command's win
    build = functools.partial(papers.build_model, experiment.model, info.num_classes, (*input_size, 3), **options)
    config = {
        "model": experiment.model,
        "dataset": experiment.dataset,
        "data_dir": str(Path(experiment.data_dir).resolve()) if experiment.data_dir else None,
        "data_source": experiment.data_source,  # not a resume setting: both sources yield the same examples
        "protocol": experiment.protocol,
        "num_classes": info.num_classes,
        "class_names": list(info.class_names),
        "input_size": list(input_size),
        "schedule": schedule.to_dict(),
        "class_weights": weights,
        "class_weights_source": weights_source,
        **({"stage_class_weights": stage_weights} if stage_weights else {}),
        "steps_per_epoch": steps_per_epoch,
        "seed": experiment.seed,
        "params": build().count_params(),
        "model_options": options,
        "deviations": papers.deviations(experiment.model, options),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "code_version": results.code_version(),
        "environment": results.environment(),
    }
    config_path = output / "config.json"
    check_resume(output, config, schedule)
    results.write_json(config_path, config)

    selected, earlier_s = None, 0.0  # the checkpoint the last trained stage selected
    stages = stage_dirs(schedule, output)
    for stage, stage_dir in stages:
        budget_s = None if schedule.max_train_hours is None else schedule.max_train_hours * 3600 - earlier_s
        if budget_s is not None and budget_s <= 0 and selected is not None:
            print(f"the {schedule.max_train_hours} h training budget is spent: stage {stage.name!r} is not trained")
            break
        loss = loss_with(stage_weights.get(stage.name, weights))
        selected = train_stage(experiment, stage, stage_dir, build, selected, schedule, loss, batches,
                               steps_per_epoch, input_size, budget_s)
        earlier_s += stage_seconds(stage_dir)
    if len(stages) > 1:
        copy_atomically(selected, output / "model.keras")
    config = {**config, "train_wall_time_s": round(train_seconds(schedule, output), 1),
              "train_other_cpu_share": shared_cpu_share(schedule, output),
              "trained_precisions": trained_precisions(schedule, output),
              "stages_trained": stages_trained(schedule, output)}
    results.write_json(config_path, config)
    return Run(experiment, output / "model.keras", config, eval_split)


def run_schedule(experiment, train_source):
    """The schedule the run follows and its input size: the experiment's, with what the data decides
    recorded as overrides (the input size of another dataset's images, the dataset itself)."""
    schedule = experiment.schedule
    input_size = experiment.input_size
    if input_size is None:
        on_own_dataset = experiment.dataset == schedule.dataset
        input_size = schedule.input_size if on_own_dataset else next(iter(train_source))[0].shape[:2]
    input_size = tuple(int(v) for v in input_size)
    if input_size != tuple(schedule.input_size):
        # What was run is what is recorded: the schedule's input size becomes the run's.
        schedule = schedule.override(input_size=(input_size, f"the size of {experiment.dataset}'s first training image"))
    if "input_size" in schedule.overrides:
        paper, reason = schedule.overrides["input_size"]["paper"], schedule.overrides["input_size"]["reason"]
        print(f"training at {input_size[0]}x{input_size[1]} ({reason}); the paper's input size is {paper[0]}x{paper[1]}")
    if schedule.dataset != experiment.dataset:
        schedule = schedule.override(dataset=(experiment.dataset, "the dataset the run trained on"))
    if schedule.crop_size:
        schedule = schedule.replace(crop_size=input_size)
    return schedule, input_size


def run_batches(experiment, schedule, train_source, info, input_size, pixel_weights):
    """((a function of (first_epoch, epochs) giving the training stream, validation batches or None, the
    training images as evaluated, for recomputing batch-norm statistics), optimizer steps per epoch)."""
    steps_per_epoch = math.ceil(int(train_source.cardinality()) / schedule.batch_size)
    if experiment.steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, experiment.steps_per_epoch)
    train_batches = functools.partial(train_pipeline, train_source, schedule.batch_size, input_size,
                                      Augmentation.of(schedule), seed=experiment.seed, steps_per_epoch=steps_per_epoch,
                                      pixel_weights=pixel_weights)
    bn_batches = eval_pipeline(train_source, schedule.batch_size, input_size)
    if experiment.steps_per_epoch:
        bn_batches = bn_batches.take(steps_per_epoch)
    val_batches = None
    if "val" in info.splits:
        val_source, _ = datasets.load(experiment.dataset, "val", experiment.data_dir, experiment.data_source)
        val_batches = eval_pipeline(val_source, schedule.batch_size, input_size, resize_labels=True,
                                    mirror_border=schedule.mirror_border)
        if experiment.val_steps:
            val_batches = val_batches.take(experiment.val_steps)
    return (train_batches, val_batches, bn_batches), steps_per_epoch


def check_resume(output, config, schedule):
    """Refuses to resume the run in `output` with another `config`; announces more epochs it can take."""
    config_path = output / "config.json"
    if not config_path.exists():
        return
    previous = results.read_run_config(config_path)
    differences = resume_differences(previous, config)
    if differences:
        raise UserError(f"{output} holds a run with other settings:\n  " + "\n  ".join(differences)
                        + "\nresume it with its own settings or choose another --output")
    if schedule.epochs > previous["schedule"]["epochs"]:
        check_extendable(stage_dirs(schedule, output))
        print(f"continuing the run to {schedule.epochs} epochs (it was started with {previous['schedule']['epochs']}; "
              "a decaying learning rate follows the new count from here)")


def resolve_eval_split(experiment, info):
    """The split the run is scored on at the end (checked now, not after training), or "none"."""
    if experiment.eval_split is None:
        preferred = [experiment.schedule.eval_split] if experiment.dataset == experiment.schedule.dataset else []
        return next(split for split in [*preferred, "test", "val", "none"] if split in (*info.splits, "none"))
    if experiment.eval_split != "none":
        info.check_split(experiment.eval_split)
    return experiment.eval_split


def resume_differences(previous, config):
    """The settings (RESUME_MUST_MATCH; the schedule key by key) in which the run config `config` differs
    from the `previous` one in the same run directory, as "key: before -> now" lines. A schedule field
    that the previous config predates counts as equal while it keeps its default. More epochs of a
    one-stage schedule are not a difference: the run continues to the new count."""
    differences = []
    for key in RESUME_MUST_MATCH:
        before, now = previous.get(key), json.loads(json.dumps(config.get(key)))
        if key == "schedule":
            before, now = without_prose(before), without_prose(now)
            changed = [(*change, None) for change in schedule_differences(before, now)]
            if changed and _only_epochs(before, now):
                changed = _epochs_change(before, now, changed)
            differences += [f"schedule.{field}: {old!r} -> {new!r}" + (f" ({why})" if why else "")
                            for field, old, new, why in changed]
        elif before != now:
            differences.append(f"{key}: {before!r} -> {now!r}")
    return differences


def _only_epochs(before, now):
    """Whether two schedules (dicts) differ in nothing but their epoch counts and the epochs override."""
    def without_epochs(schedule):
        overrides = {field: change for field, change in schedule.get("overrides", {}).items() if field != "epochs"}
        stages = [{**stage, "epochs": None} for stage in schedule.get("stages", [])]
        return {**schedule, "epochs": None, "stages": stages, "overrides": overrides}
    return not schedule_differences(without_epochs(before), without_epochs(now))


def _epochs_change(before, now, changed):
    """An epochs change on resume, as (field, before, now, why) when it is refused; none when it extends.
    The epochs equal (only their override's wording changed): the `changed` fields, as any difference."""
    if now["epochs"] == before["epochs"]:
        return changed
    if now["stages"]:
        return [("epochs", before["epochs"], now["epochs"], "a staged schedule's epochs cannot change on resume")]
    if now["epochs"] < before["epochs"]:
        return [("epochs", before["epochs"], now["epochs"], f"fewer epochs than the run was started with are refused: "
                 f"its learning-rate schedule and checkpoints follow {before['epochs']}; --epochs {before['epochs']} "
                 "or more continues it")]
    return []


def check_extendable(stages):
    """Refuses more epochs for a run that cannot take them: a stage stopped by its own rule (patience, the
    time budget), or one that finished before runs kept their last epoch's state (backup/)."""
    for stage, stage_dir in stages:
        done = stage_dir / "done.json"
        if not done.exists():
            continue
        finished = results.read_json(done)
        if finished["stopped_early"]:
            raise UserError(f"{stage_dir} stopped early by its own rule after {finished['epochs_trained']} epochs "
                            "(patience or the time budget): more epochs would not train it; start a new run")
        if not resumed_epoch(stage_dir / "backup"):
            raise UserError(f"{stage_dir} finished its {finished['epochs']} epochs before runs kept their last "
                            "state (backup/): it cannot continue; start a new run in another --output")


def resolve_class_weights(schedule, train_source, info):
    """Returns (weights or None, where they came from)."""
    if schedule.class_weighting == "none":
        return None, "none"
    if schedule.class_weights is not None:
        return list(schedule.class_weights), f"published {schedule.class_weighting} weights ({schedule.source})"
    labels = (label for _, label in train_source.as_numpy_iterator())
    weights = class_weights.compute_class_weights(schedule.class_weighting, labels, info.num_classes, info.ignore_label,
                                                  **schedule.class_weighting_options)
    return [round(float(w), 6) for w in weights], f"{schedule.class_weighting} computed from the {info.name} train split"


def resolve_pixel_weights(schedule, info, class_weights):
    """The schedule's per-pixel loss weights as a function of a label image, or None.

    U-Net's eq. 2: w_c (`class_weights`, or 1) plus the border term between the objects, the
    connected regions of the class that is not the dataset's boundary class.
    """
    if schedule.weight_map is None:
        return None
    if info.boundary_class is None or info.num_classes != 2:
        raise UserError(f"the schedule's weight map (U-Net eq. 2) weights the boundaries between objects of a "
                         f"two-class boundary dataset; {info.name!r} is not one")
    w0, sigma = schedule.weight_map
    objects = 1 - info.class_names.index(info.boundary_class)
    return functools.partial(unet_weight_map, class_weights=class_weights or [1.0] * info.num_classes, w0=w0,
                             sigma=sigma, foreground=objects, ignore_label=info.ignore_label)


def callbacks(output, schedule, has_validation, stop_on_nan, budget_s, bn_batches):
    # Order matters for a kill between callbacks: the selection and the clock record an epoch
    # before the backup does (a resumed run never skips them), and history.csv lists only epochs
    # the backup holds. The backup keeps the previous epoch's copy in case a kill truncates it.
    statistics = ([BatchNormStatistics(bn_batches, every_epoch=not has_validation)]
                  if schedule.bn_statistics == "recomputed" else [])
    return [
        stop_on_nan, *statistics,
        SelectedCheckpoint(output / "model.keras", schedule.select_by if has_validation else "last",
                           schedule.patience if has_validation else None),
        TrainingClock(output / "train_time.json", budget_s),
        keras.callbacks.TensorBoard(str(output / "logs"), write_graph=False, profile_batch=0),
        # Kept after the last epoch (delete_checkpoint=False), so that more --epochs continue a finished run.
        keras.callbacks.BackupAndRestore(str(output / "backup"), double_checkpoint=True, delete_checkpoint=False),
        keras.callbacks.CSVLogger(str(output / "history.csv"), append=True),
    ]


def validation_epochs(epochs, every):
    """The (1-based) epochs that validate: every `every`-th and the last, so a stage always selects one."""
    return [epoch for epoch in range(1, epochs + 1) if epoch % every == 0 or epoch == epochs]


def resumed_epoch(backup_dir):
    """The epoch Keras' BackupAndRestore will resume at (0 for a fresh run)."""
    metadata = Path(backup_dir) / "training_metadata.json"
    return results.read_json(metadata)["epoch"] if metadata.exists() else 0


def train_stage(experiment, stage, stage_dir, build, previous, schedule, loss, batches, steps_per_epoch, input_size,
                budget_s=None):
    """Trains one stage in `stage_dir` (resumable) from the weights of the checkpoint `previous` (a
    path, or None); returns the path of the checkpoint it selected.

    `batches` is (a function of (first_epoch, epochs) giving the training stream, validation
    batches or None, the un-augmented training batches batch-norm statistics are recomputed from).
    `budget_s` is the training time the stage may take. A finished stage leaves `done.json` and is
    not trained again when the run is resumed.
    """
    stage_dir.mkdir(parents=True, exist_ok=True)
    strategy = tf.distribute.MirroredStrategy() if experiment.distribute == "mirrored" else tf.distribute.get_strategy()
    done, selected = stage_dir / "done.json", stage_dir / "model.keras"
    if done.exists():
        finished = results.read_json(done)
        if finished["stopped_early"] or finished["epochs"] >= stage.epochs:
            return selected
        done.unlink()  # more epochs were asked for (check_extendable): train on from the last one
    with strategy.scope():
        model = build(**stage.model_options)
        initialize(model, schedule.initialization, experiment.seed)  # layers a previous stage trained are overwritten
        if previous is not None:
            transfer_weights(checkpoints.load_model(previous, as_trained=True), model)
        stage_schedule = schedule.replace(learning_rate=stage.learning_rate or schedule.learning_rate,
                                          epochs=stage.epochs, stages=())
        compile_for_training(model, stage_schedule, loss, steps_per_epoch)
    output_size = model.output_shape[1:3]
    border = {(size_in - size_out) // 2 for size_in, size_out in zip(input_size, output_size)}
    if schedule.mirror_border is not None and border != {schedule.mirror_border}:
        raise UserError(f"Schedule.mirror_border={schedule.mirror_border} but {model.name} at {input_size} loses a "
                        f"border of {sorted(border)} pixels (input {input_size}, output {output_size})")
    make_train_batches, val_batches, bn_batches = batches
    first_epoch = resumed_epoch(stage_dir / "backup")
    if first_epoch:
        print(f"{stage_dir}: resuming from epoch {first_epoch} of {stage.epochs}")
    stream = make_train_batches(first_epoch=first_epoch, epochs=stage.epochs - first_epoch)
    train_batches = fit_labels_to_output(stream, input_size, output_size)
    if val_batches is not None:
        val_batches = fit_labels_to_output(val_batches, input_size, output_size)
    stop_on_nan = StopOnNaN()
    try:
        model.fit(train_batches, epochs=stage.epochs, steps_per_epoch=steps_per_epoch, validation_data=val_batches,
                  validation_freq=validation_epochs(stage.epochs, schedule.validate_every),
                  callbacks=callbacks(stage_dir, schedule, val_batches is not None, stop_on_nan, budget_s, bn_batches),
                  verbose=experiment.verbose, shuffle=False)  # the pipeline shuffles
    except NonFiniteLoss as error:
        raise UserError(f"training stopped in stage {stage.name!r}: {error}") from None
    if not selected.exists():  # stopped (time budget) before any epoch validated
        save_model_atomically(model, selected)
    for spare in (stage_dir / "backup").glob("*.bkp"):  # the last epoch's state is kept once, for more --epochs
        spare.unlink()
    results.write_json(stage_dir / "done.json", {"stage": stage.name, "epochs": stage.epochs,
                                                 "epochs_trained": len(read_history(stage_dir)),
                                                 "stopped_early": bool(model.stop_training)})
    return selected


def read_history(stage_dir):
    """history.csv of a stage as one dict per epoch, in order; an epoch a resumed run logged twice
    counts once, with its later row; "NA" (an epoch that did not validate) becomes None."""
    path = Path(stage_dir) / "history.csv"
    logged = {int(row["epoch"]): row for row in csv.DictReader(path.open())} if path.exists() else {}
    return [{key: None if value in ("", "NA") else float(value) for key, value in logged[epoch].items()}
            for epoch in sorted(logged)]


def stage_seconds(stage_dir):
    """The training time of the stage in `stage_dir` so far, summed over its sittings."""
    clock = Path(stage_dir) / "train_time.json"
    return results.read_json(clock)["seconds"] if clock.exists() else 0.0


def trained_precisions(schedule, output):
    """The dtype policies the run in `output` trained in, as {stage, precision, first_epoch, last_epoch}
    runs of consecutive sittings (train_time.json); epochs before the first recorded sitting (older
    code kept none) trained in the schedule's precision, the only one that code used."""
    spans = []
    for stage, stage_dir in stage_dirs(schedule, output):
        clock = Path(stage_dir) / "train_time.json"
        sittings = results.read_json(clock).get("sittings", []) if clock.exists() else []
        unrecorded = (sittings[0]["first_epoch"] - 1) if sittings else len(read_history(stage_dir))
        if unrecorded:
            sittings = [{"first_epoch": 1, "last_epoch": unrecorded, "precision": schedule.precision}, *sittings]
        for sitting in sittings:
            if spans and spans[-1]["stage"] == stage.name and spans[-1]["precision"] == sitting["precision"]:
                spans[-1]["last_epoch"] = sitting["last_epoch"]
            else:
                spans.append({"stage": stage.name, "precision": sitting["precision"],
                              "first_epoch": sitting["first_epoch"], "last_epoch": sitting["last_epoch"]})
    return spans


def shared_cpu_share(schedule, output):
    """The share of the CPUs the rest of the machine took while the run in `output` trained, averaged
    over its sittings by their seconds (train_time.json), or None where no sitting recorded it."""
    recorded = []
    for _, stage_dir in stage_dirs(schedule, output):
        clock = Path(stage_dir) / "train_time.json"
        recorded += [sitting for sitting in (results.read_json(clock).get("sittings", []) if clock.exists() else [])
                     if "other_cpu_share" in sitting and sitting["seconds"] > 0]
    seconds = sum(sitting["seconds"] for sitting in recorded)
    return (round(sum(sitting["other_cpu_share"] * sitting["seconds"] for sitting in recorded) / seconds, 4)
            if seconds else None)


def train_seconds(schedule, output):
    """The training time of the run in `output` so far, summed over its stages and sittings."""
    return sum(stage_seconds(stage_dir) for _, stage_dir in stage_dirs(schedule, output))


def stages_trained(schedule, output):
    """Per stage: the epochs it trained of its schedule's, what stopped it short ("time budget",
    "patience", or None), the epoch its selection kept with the monitored value, and its history.csv,
    so that a results file keeps the learning curve once the run folder is gone."""
    summaries, seconds = [], 0.0
    for stage, stage_dir in stage_dirs(schedule, output):
        seconds += stage_seconds(stage_dir)  # the run's clock when this stage ended
        budget_spent = schedule.max_train_hours is not None and seconds >= schedule.max_train_hours * 3600
        done = stage_dir / "done.json"
        stopped_early = results.read_json(done)["stopped_early"] if done.exists() else True  # never started
        selection = stage_dir / "model.keras.json"
        history = read_history(stage_dir)
        summaries.append({
            "stage": stage.name, "epochs": stage.epochs, "epochs_trained": len(history),
            "stopped_by": ("time budget" if budget_spent else "patience") if stopped_early else None,
            "selected": results.read_json(selection) if selection.exists() else None,
            "history": history,
        })
    return summaries


def stage_dirs(schedule, output):
    """(stage, the folder it trains in) for each stage of `schedule`; one stage trains in `output`."""
    stages = schedule.stages or (Stage("train", schedule.epochs),)
    return [(stage, Path(output) if len(stages) == 1 else Path(output) / stage.name) for stage in stages]
