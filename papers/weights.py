"""Trained weights by name, as torchvision's weight entries: each record carries its numbers and recipe.

    from segpapers import papers
    papers.list_weights()                      # ['enet_paper']
    weights = papers.get_weights("enet", "paper")
    weights.metrics["miou"], weights.num_params, weights.recipe
    model = weights.load()
    papers.resolve_checkpoint("enet:paper")    # .../results/weights/enet_paper/model.keras

A record is a folder results/weights/<model>_<protocol>/ that `benchmarks.run` keeps
(`common.results.weight_record_dir`): model.keras without optimizer state, the run's config.json,
and record.json with the scores on the dataset split and the command that made them.
"""
import dataclasses
from pathlib import Path

from segpapers.common import checkpoints, results
from segpapers.common.errors import UnknownName

# The checkout's records, found from this file so that an editable install reads the same folder.
WEIGHTS_DIR = results.weight_record_dir(Path(__file__).resolve().parents[1] / "results", "")


class WeightsError(UnknownName):
    """A weight record name that no committed record has."""


@dataclasses.dataclass(frozen=True)
class WeightRecord:
    model: str
    name: str  # the protocol that trained it
    path: Path  # the model.keras file
    dataset: str
    split: str  # the split `metrics` were scored on
    metrics: dict
    crf_metrics: dict | None  # the same split with the CRF, when the run scored one
    command: str  # what re-makes the record
    num_params: int
    recipe: dict  # the protocol and the source of its schedule

    def load(self):
        """The trained Keras model, uncompiled and in safe mode (`import papers` registered its layers)."""
        return checkpoints.load_model(self.path)


def _records():
    """Record name -> its model, for every folder of WEIGHTS_DIR with a record.json."""
    if not WEIGHTS_DIR.is_dir():
        return {}
    return {folder.name: results.read_run_config(folder / "config.json")["model"]
            for folder in sorted(WEIGHTS_DIR.iterdir()) if (folder / "record.json").is_file()}


def _unknown(what, names):
    return WeightsError(f"{what}; weight records: {', '.join(names) or 'none'}")


def list_weights(model=None):
    """The names (<model>_<protocol>) of the committed weight records, all or `model`'s."""
    return [name for name, owner in _records().items() if model is None or owner == model]


def get_weights(model, name):
    """The record of `model` trained by protocol `name`: `get_weights("enet", "paper")`."""
    record_name = f"{model}_{name}"
    if _records().get(record_name) != model:
        raise _unknown(f"no weights {name!r} for model {model!r}", list_weights())
    folder = WEIGHTS_DIR / record_name
    record = results.read_json(folder / "record.json")
    config = results.read_run_config(folder / "config.json")
    return WeightRecord(
        model=model, name=name, path=folder / "model.keras", dataset=record["dataset"], split=record["split"],
        metrics=record["metrics"], crf_metrics=record.get("crf_metrics"), command=record["command"],
        num_params=config["params"], recipe={"protocol": config.get("protocol", name),
                                             "source": config["schedule"]["source"]})


def resolve_checkpoint(text):
    """The `.keras` file `text` names: a path to one, a weight-record folder (its model.keras), or a
    record name, "enet_paper" or "enet:paper". A path that exists wins over a record of that name."""
    path = Path(text)
    if path.is_dir():
        return path / "model.keras" if (path / "model.keras").is_file() else path  # load_model says what it holds
    if path.exists() or path.suffix == ".keras":
        return path  # a missing .keras file: load_model says so
    name = text.replace(":", "_", 1)
    if name not in _records():
        raise _unknown(f"{text!r} is neither a .keras file, a folder nor a weight record", list_weights())
    return WEIGHTS_DIR / name / "model.keras"
