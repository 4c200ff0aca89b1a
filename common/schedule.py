"""Training schedules and reported numbers as data.

A `Schedule` holds everything the training CLI needs to follow a paper's recipe; each paper folder
declares its schedules (one per protocol, e.g. "paper") and the numbers the paper reports. The CLIs
read these records and contain no per-model branches.
"""
import dataclasses
from typing import Mapping

OPTIMIZERS = ("sgd", "adam")
LR_POLICIES = ("fixed", "step", "poly")
CLASS_WEIGHTINGS = ("none", "median_frequency", "enet")
SELECTION_RULES = ("last", "val_pixel_accuracy", "val_miou")


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
    weight_decay: float = 0.0  # L2 on kernels, added to the gradient as Caffe/Torch do
    lr_policy: str = "fixed"
    lr_step_epochs: int = 0  # "step": multiply by lr_gamma every lr_step_epochs epochs
    lr_gamma: float = 0.1
    lr_power: float = 0.9  # "poly": lr * (1 - step / total) ** lr_power
    loss_normalization: str = "valid"  # see common.losses.SegmentationCrossEntropy
    class_weighting: str = "none"
    # Published weights for `dataset`, used instead of computing `class_weighting` from its labels.
    class_weights: tuple[float, ...] | None = None
    crop_size: tuple[int, int] | None = None
    flip: bool = False
    scale_range: tuple[float, float] | None = None
    select_by: str = "last"  # which checkpoint is evaluated: the last, or the best on validation
    notes: str = ""

    def __post_init__(self):
        for field, allowed in (("optimizer", OPTIMIZERS), ("lr_policy", LR_POLICIES),
                               ("class_weighting", CLASS_WEIGHTINGS), ("select_by", SELECTION_RULES)):
            if getattr(self, field) not in allowed:
                raise ValueError(f"Schedule.{field}={getattr(self, field)!r}; expected one of {allowed}")

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        return dataclasses.asdict(self)


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
