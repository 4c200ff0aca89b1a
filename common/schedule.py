"""Training schedules and reported numbers as data.

A `Schedule` holds everything the training CLI needs to follow a paper's recipe; each paper folder
declares its schedules (one per protocol, e.g. "paper") and the numbers the paper reports. The CLIs
read these records and contain no per-model branches.
"""
import dataclasses
import json
from typing import Mapping

from segpapers.common.class_weights import METHODS as CLASS_WEIGHTINGS
from segpapers.common.crf import DEFAULT_PRESET, PRESETS, CrfParams

OPTIMIZERS = ("sgd", "adam")
LR_POLICIES = ("fixed", "step", "poly")
SELECTION_RULES = ("last", "val_pixel_accuracy", "val_miou")
# Which parameters weight decay pulls towards zero: Caffe decays kernels and batch-norm scale/shift
# but not biases (decay_mult 0), Torch's optimisers every parameter.
DECAY_KINDS = ("kernel", "bias", "batch_norm", "prelu")
# Batch-norm statistics used at evaluation: Keras' moving averages, or the average over the whole
# training set at the evaluated weights (SegNet-Tutorial Scripts/compute_bn_statistics.py).
BN_STATISTICS = ("moving", "recomputed")
# How a run's parameters start: the builder's initialisers (the papers' fillers), or re-drawn as Torch7's
# modules draw them when the reference code names no initialisation (common.initialization).
INITIALIZATIONS = ("builder", "torch7")
# Keras dtype policies: mixed_bfloat16 for CPUs with AVX512-BF16/AMX, mixed_float16 for GPUs.
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
# The reason of a reduced protocol's cuts of the paper's recipe (`Schedule.override`).
CPU_BUDGET = "a budget a 2-core CPU finishes"


@dataclasses.dataclass(frozen=True)
class Stage:
    """One phase of a multi-phase schedule, e.g. ENet's encoder-first training (sec. 5.2).

    Each stage builds the model with `model_options` (e.g. {"encoder_only": True}), starts from the
    previous stage's weights (matched by layer name) and trains for `epochs`; labels are fitted to
    the model's output size (`datasets.pipeline.fit_labels_to_output`).
    """

    name: str
    epochs: int
    model_options: Mapping[str, object] = dataclasses.field(default_factory=dict)
    learning_rate: float | None = None  # default: the schedule's
    # Options of the schedule's class weighting for this stage (e.g. {"c": 1.2}); None: the schedule's.
    class_weighting_options: Mapping[str, object] | None = None


@dataclasses.dataclass(frozen=True)
class Schedule:
    """One training recipe. `source` says where in the paper or reference each value comes from."""

    dataset: str
    input_size: tuple[int, int]
    batch_size: int
    epochs: int
    learning_rate: float
    source: str
    optimizer: str = "sgd"
    momentum: float = 0.0
    adam_epsilon: float = 1e-7  # Keras' default; Torch's and PyTorch's Adam use 1e-8
    weight_decay: float = 0.0  # coupled L2, added to the gradient as Caffe/Torch do
    decayed: tuple[str, ...] = ("kernel",)  # the parameter kinds weight decay applies to (DECAY_KINDS)
    lr_policy: str = "fixed"
    lr_step_epochs: int = 0  # "step": multiply by lr_gamma every lr_step_epochs epochs
    lr_gamma: float = 0.1
    lr_power: float = 0.9  # "poly": lr * (1 - step / total) ** lr_power
    loss_normalization: str = "valid"  # see common.losses.SegmentationCrossEntropy
    class_weighting: str = "none"
    # Keyword options of the weighting (common.class_weights.compute_class_weights), e.g. ENet's c.
    class_weighting_options: Mapping[str, object] = dataclasses.field(default_factory=dict)
    # Published weights for `dataset`, used instead of computing `class_weighting` from its labels.
    class_weights: tuple[float, ...] | None = None
    crop_size: tuple[int, int] | None = None
    flip: bool = False
    scale_range: tuple[float, float] | None = None
    elastic: tuple[int, float] | None = None  # U-Net's deformation: (grid points per side, displacement std px)
    rotation: float | None = None  # random rotation by up to +-this many degrees (datasets.pipeline.Augmentation)
    gray_values: tuple[float, float] | None = None  # (black/white point shift, largest gamma factor): Augmentation
    # Overlap-tile training: crops of a slice extended by this many mirrored pixels on every side, the
    # model's border (input - output) / 2, so that the output of a crop lies anywhere inside the slice.
    mirror_border: int | None = None
    # Test-time augmentation: probabilities averaged over this many of the square's 8 symmetries
    # (rotations by 90 degrees, each also flipped; experiment.inference.SYMMETRIES), 1 = none.
    test_time_symmetries: int = 1
    # U-Net's per-pixel loss weights (eq. 2, common.weight_map): (w0, sigma px), for datasets with a
    # boundary class. The class weights become the map's w_c instead of weighting the loss apart.
    weight_map: tuple[float, float] | None = None
    select_by: str = "last"  # which checkpoint is evaluated: the last, or the best on validation
    validate_every: int = 1  # epochs between validations (and checkpoint selections)
    bn_statistics: str = "moving"  # BN_STATISTICS
    initialization: str = "builder"  # INITIALIZATIONS
    # Stop before `epochs` once `select_by` has not improved for `patience` epochs, or once the
    # training clock (summed over sittings) passes `max_train_hours`.
    patience: int | None = None
    max_train_hours: float | None = None
    eval_split: str = "test"  # the split the paper's numbers are measured on (or the nearest public one)
    stages: tuple[Stage, ...] = ()  # empty: one stage of `epochs` with the default model
    model_options: Mapping[str, object] = dataclasses.field(default_factory=dict)  # builder options of the protocol
    # A learning-rate trial before the run (experiment.sweep): each rate trains `sweep_epochs` epochs and
    # the run takes the best by validation, instead of `learning_rate`. Empty: no trial.
    learning_rate_sweep: tuple[float, ...] = ()
    sweep_epochs: int = 1
    crf: CrfParams = PRESETS[DEFAULT_PRESET]  # dense-CRF post-processing parameters (evaluate.py --crf)
    precision: str = "float32"  # not the papers' (all float32): reduced-budget protocols may trade it for speed
    notes: str = ""
    # What a protocol changed of the paper's recipe (`override`): field -> {"paper": value, "reason": why}.
    overrides: Mapping[str, Mapping[str, object]] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if self.stages and sum(stage.epochs for stage in self.stages) != self.epochs:
            raise ValueError(f"Schedule.epochs={self.epochs} but its stages add up to "
                             f"{sum(stage.epochs for stage in self.stages)}")
        for field, allowed in (("optimizer", OPTIMIZERS), ("lr_policy", LR_POLICIES),
                               ("class_weighting", CLASS_WEIGHTINGS), ("select_by", SELECTION_RULES),
                               ("precision", PRECISIONS), ("bn_statistics", BN_STATISTICS),
                               ("initialization", INITIALIZATIONS)):
            if getattr(self, field) not in allowed:
                raise ValueError(f"Schedule.{field}={getattr(self, field)!r}; expected one of {allowed}")
        if not set(self.decayed) <= set(DECAY_KINDS):
            raise ValueError(f"Schedule.decayed={self.decayed!r}; expected kinds among {DECAY_KINDS}")
        sizes = [("input_size", self.input_size)] + ([("crop_size", self.crop_size)] if self.crop_size else [])
        for field, size in sizes:
            if len(size) != 2 or min(size) < 1:
                raise ValueError(f"Schedule.{field}={size!r}: two positive sizes, height and width")
        for field in ("epochs", "batch_size"):
            if getattr(self, field) < 1:
                raise ValueError(f"Schedule.{field}={getattr(self, field)!r} must be at least 1")
        if not self.learning_rate > 0:
            raise ValueError(f"Schedule.learning_rate={self.learning_rate!r} must be positive")
        if self.mirror_border is not None and (self.mirror_border < 1 or not self.crop_size):
            raise ValueError(f"Schedule.mirror_border={self.mirror_border!r} needs a crop_size and must be >= 1")
        if self.gray_values is not None and not (0 <= self.gray_values[0] < 0.5 and self.gray_values[1] >= 1):
            raise ValueError(f"Schedule.gray_values={self.gray_values!r}: a point shift in [0, 0.5) and a largest "
                             "gamma factor >= 1")
        if not 1 <= self.test_time_symmetries <= 8:
            raise ValueError(f"Schedule.test_time_symmetries={self.test_time_symmetries!r}: 1 (none) to 8 (all)")
        if self.validate_every < 1 or (self.patience is not None and self.patience < 1):
            raise ValueError(f"Schedule.validate_every={self.validate_every} and patience={self.patience} must be >= 1")

    def replace(self, **changes):
        """A copy with `changes`; a new `epochs` is shared among the stages in their proportions."""
        if "epochs" in changes and self.stages and "stages" not in changes:
            changes["stages"] = _rescale_stages(self.stages, changes["epochs"])
        return dataclasses.replace(self, **changes)

    @property
    def monitor(self):
        """The validation metric a run watches: the selection rule's, or val mIoU for "last"."""
        return self.select_by if self.select_by != "last" else "val_miou"

    def override(self, **changes):
        """A protocol derived from this recipe: each change is (value, one-line reason). The paper's
        value and the reason are kept in `overrides`, from which a run's deviations are rendered."""
        for field, change in changes.items():
            if not (isinstance(change, tuple) and len(change) == 2 and isinstance(change[1], str) and change[1]):
                raise ValueError(f"override {field}=(value, reason): every change of the paper's recipe says why")
        overrides = dict(self.overrides)
        for field, (_, reason) in changes.items():
            paper = overrides[field]["paper"] if field in overrides else getattr(self, field)
            overrides[field] = {"paper": paper, "reason": reason}
        return self.replace(**{field: value for field, (value, _) in changes.items()}, overrides=overrides)

    def deviations(self):
        """The protocol's changes of the paper's recipe, one line each: field, paper -> this, reason."""
        return deviation_lines(self.to_dict())

    def to_dict(self):
        return dataclasses.asdict(self)


def _defaults(cls):
    """A dataclass's field defaults as JSON values: what a field was before it existed."""
    found = {}
    for field in dataclasses.fields(cls):
        if field.default is not dataclasses.MISSING:
            found[field.name] = field.default
        elif field.default_factory is not dataclasses.MISSING:
            found[field.name] = field.default_factory()
    return json.loads(json.dumps({key: dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value
                                  for key, value in found.items()}))


def schedule_differences(before, now):
    """The fields in which two schedules as dicts (read back from JSON) differ, as (field, before, now).
    A field `before` lacks (written by older code), in the schedule or in a stage, counts as its default."""
    before = {**_defaults(Schedule), **before}
    before["stages"] = [{**_defaults(Stage), **stage} for stage in before["stages"]]
    now = json.loads(json.dumps(now))
    return [(field, before.get(field), value) for field, value in now.items()
            if before.get(field) != value]


def without_prose(schedule):
    """A schedule (dict) without its prose, which may be reworded under a finished or running run: its
    source, its notes and the reasons of its overrides."""
    overrides = {field: {key: value for key, value in change.items() if key != "reason"}
                 for field, change in schedule.get("overrides", {}).items()}
    return {**{key: value for key, value in schedule.items() if key not in ("notes", "source")}, "overrides": overrides}


def deviation_lines(schedule):
    """`Schedule.deviations` of a schedule as a dict (`to_dict`, or read back from a run's config.json)."""
    return [f"{field}: {_show(change['paper'])} -> {_show(schedule[field])} ({change['reason']})"
            for field, change in schedule.get("overrides", {}).items()]


def _show(value):
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return f"{value[0]}x{value[1]}"
    if isinstance(value, (tuple, list)) and value and all(isinstance(v, (Stage, dict)) for v in value):
        stages = [dataclasses.asdict(stage) if isinstance(stage, Stage) else stage for stage in value]
        return ", ".join(f"{stage['name']} {stage['epochs']} epochs" + (f" {dict(stage['class_weighting_options'])}"
                         if stage.get("class_weighting_options") else "") for stage in stages)
    if isinstance(value, (tuple, list)) and value:
        return ", ".join(map(str, value))
    return "none" if value is None or value == () or value == [] else str(value)


def _rescale_stages(stages, epochs):
    if epochs < len(stages):
        raise ValueError(f"{epochs} epochs cannot cover the {len(stages)} stages {[s.name for s in stages]}")
    total = sum(stage.epochs for stage in stages)
    counts = [max(1, stage.epochs * epochs // total) for stage in stages[:-1]]
    counts.append(epochs - sum(counts))
    if counts[-1] < 1:
        raise ValueError(f"{epochs} epochs cannot cover the stages {[s.name for s in stages]}")
    return tuple(dataclasses.replace(stage, epochs=count) for stage, count in zip(stages, counts))


@dataclasses.dataclass(frozen=True)
class Reported:
    """A number a paper reports: metric name -> value in percent, where it comes from, and caveats."""

    dataset: str
    split: str
    metrics: Mapping[str, float]
    source: str
    notes: str = ""

    def to_dict(self):
        return {**dataclasses.asdict(self), "metrics": dict(self.metrics)}
