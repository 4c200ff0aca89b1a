"""`Experiment`: one frozen record of what a training run is, resolved once from flags or a protocol."""
import ast
import dataclasses
from pathlib import Path
from typing import Mapping

from segpapers import papers
from segpapers.common.errors import UserError
from segpapers.common.schedule import Schedule

# Schedule fields a command line may set; each becomes an override of the protocol, with this reason.
FLAG_FIELDS = ("epochs", "batch_size", "optimizer", "learning_rate", "class_weighting", "precision")
FLAG_REASON = "set on the command line"


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A model, its options, the data, the schedule it follows, and where it writes.

    `schedule` is the protocol's (`papers.get_schedule(model, protocol)`) with the run's own
    changes applied as overrides, each with its reason, so what a run changed of the paper's recipe
    is read from the data. `input_size` None: the schedule's on its own dataset, else the size of
    the first training image; `eval_split` None: the schedule's evaluation split on its own dataset,
    else test, else val ("none": no scoring).
    """

    model: str
    protocol: str
    schedule: Schedule
    dataset: str
    output: Path
    data_dir: str | None = None
    data_source: str = "files"  # one of datasets.SOURCES: decode the files, or read TFDS records prepared from them
    model_options: Mapping[str, object] = dataclasses.field(default_factory=dict)
    input_size: tuple[int, int] | None = None
    seed: int = 0
    eval_split: str | None = None
    num_classes: int | None = None
    steps_per_epoch: int | None = None  # a cap on the optimizer steps per epoch (quick runs)
    val_steps: int | None = None  # a cap on the validation batches per epoch
    deterministic: bool = False
    distribute: str = "none"  # one of common.training.DISTRIBUTIONS
    # --precision, kept even where it equals the schedule's: a dtype policy asked for is never swapped
    # for float32 on a CPU without bfloat16 units (common.training.machine_precision).
    asked_precision: str | None = None
    verbose: int = 1

    @classmethod
    def of(cls, model, output, protocol="paper", dataset=None, backbone_weights=None, model_options=(),
           overrides=None, **settings):
        """The experiment of `model` under `protocol`; schedule values in `settings` (FLAG_FIELDS)
        override the protocol's, the rest are Experiment fields; `overrides` changes other schedule
        fields, field -> (value, reason) as `Schedule.override` takes them."""
        schedule = papers.get_schedule(model, protocol)
        dataset = dataset or schedule.dataset
        changes = {field: settings.pop(field) for field in FLAG_FIELDS if settings.get(field) is not None}
        for field in FLAG_FIELDS:
            settings.pop(field, None)
        try:
            schedule = resolve_schedule(schedule, dataset, changes)
        except ValueError as error:
            flags = ", ".join(f"--{flag_name(field)} {value}" for field, value in changes.items())
            raise UserError(f"{flags or 'the dataset'} does not fit the {protocol!r} protocol: {error}") from None
        if overrides:
            schedule = schedule.override(**overrides)
        options = dict(model_options)
        if backbone_weights:
            options["backbone_weights"] = backbone_weights
        size = settings.pop("input_size", None)
        for field in ("steps_per_epoch", "val_steps"):
            if settings.get(field) is not None and settings[field] < 1:
                raise UserError(f"--{flag_name(field)} {settings[field]} must be at least 1")
        if size is not None and min(size) < 1:
            raise UserError(f"--input-size {size[0]}x{size[1]}: both sizes must be positive")
        if size is not None and tuple(size) != schedule.input_size:
            schedule = schedule.override(input_size=(tuple(size), "--input-size"))
        return cls(model=model, protocol=protocol, schedule=schedule, dataset=dataset, output=Path(output),
                   model_options=options, input_size=tuple(size) if size else None,
                   asked_precision=changes.get("precision"), **settings)


def flag_name(field):
    return field.replace("_", "-")


def resolve_schedule(schedule, dataset, changes):
    """`schedule` with `changes` (field -> value) as command-line overrides, for a run on `dataset`."""
    overrides = {field: (value, FLAG_REASON) for field, value in changes.items() if value != getattr(schedule, field)}
    if changes.get("class_weighting", schedule.class_weighting) != schedule.class_weighting \
            and schedule.class_weights is not None:
        overrides["class_weights"] = (None, "the published weights belong to the schedule's own weighting")
    if overrides:
        schedule = schedule.override(**overrides)
    if dataset != schedule.dataset:
        reason = f"they belong to the paper's dataset ({schedule.dataset}), not {dataset}"
        schedule = schedule.override(**{field: (None, reason) for field in ("class_weights", "crop_size", "mirror_border",
                                                                            "weight_map")
                                        if getattr(schedule, field) is not None})
    return schedule


def parse_size(text):
    """"HEIGHTxWIDTH" -> (height, width)."""
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"expected HEIGHTxWIDTH such as 360x480, got {text!r}") from None
    return height, width


def parse_model_option(text):
    """"KEY=VALUE" -> (key, value as a Python literal, else the string)."""
    key, separator, value = text.partition("=")
    if not separator or not key.isidentifier():
        raise ValueError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value
