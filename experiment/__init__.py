"""The run library: what a run is (`Experiment`), training it (`fit`), scoring a model (`score`), and
the inference every entry point shares (`inference`). The CLIs (train.py, evaluate.py, predict.py)
and benchmarks/ parse their flags into these calls; nothing here imports a script.

It sits above `papers` and `datasets` (it builds models and loads data by name), which is why it
is not part of `common`, which knows no paper.
"""
from segpapers.experiment.runs import Run, fit, stage_dirs, stage_seconds, train_seconds
from segpapers.experiment.inference import by_tiles, forward_pass, load_checkpoint, predictor, trained_on_crops
from segpapers.experiment.scoring import format_table, score, search_crf_params
from segpapers.experiment.spec import Experiment

__all__ = ["Experiment", "Run", "by_tiles", "fit", "format_table", "forward_pass", "load_checkpoint", "predictor",
           "score", "search_crf_params", "stage_dirs", "stage_seconds", "train_seconds", "trained_on_crops"]
