"""The model registry: every paper's models, schedules and reported numbers by name.

    from segpapers import papers
    papers.list_models()                       # ['deconvnet', 'enet', 'fcn16s', ...]
    model = papers.build_model("segnet", 12, (360, 480, 3))
    papers.get_schedule("segnet", "paper")     # common.schedule.Schedule
    papers.get_reported("segnet")              # tuple of common.schedule.Reported

A paper folder exposes MODELS (name -> builder), SCHEDULES (name -> protocol -> Schedule) and
REPORTED (name -> Reported records); adding a paper means adding it to PAPERS below.
"""
import inspect

from segpapers.common.errors import UnknownName
from segpapers.papers import comparison, deconvnet, enet, fcn, segnet, unet
from segpapers.papers.weights import WeightRecord, get_weights, list_weights, resolve_checkpoint

PAPERS = (deconvnet, enet, fcn, segnet, unet)

_BUILDERS = {name: builder for paper in PAPERS for name, builder in paper.MODELS.items()}
_SCHEDULES = {name: dict(protocols) for paper in PAPERS for name, protocols in paper.SCHEDULES.items()}
for _name in comparison.MODELS:  # the shared recipe of the architecture comparison
    _SCHEDULES[_name][comparison.PROTOCOL] = comparison.protocol(_name)
_REPORTED = {name: reported for paper in PAPERS for name, reported in paper.REPORTED.items()}


def list_models():
    return sorted(_BUILDERS)


def _check_name(name):
    if name not in _BUILDERS:
        raise UnknownName(f"unknown model {name!r}; valid models: {', '.join(list_models())}")


def build_model(name, num_classes, input_shape=None, **options):
    """Builds `name` for `num_classes` outputs; `input_shape` defaults to the paper schedule's size."""
    _check_name(name)
    if input_shape is None:
        input_shape = (*get_schedule(name).input_size, 3)
    accepted = list(inspect.signature(_BUILDERS[name]).parameters)[2:]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"model {name!r} has no option {', '.join(unknown)}; its options: {', '.join(accepted)}")
    return _BUILDERS[name](num_classes, tuple(input_shape), **options)


def list_protocols(name):
    _check_name(name)
    return sorted(_SCHEDULES[name])


def get_schedule(name, protocol="paper"):
    _check_name(name)
    if protocol not in _SCHEDULES[name]:
        raise UnknownName(f"model {name!r} has no {protocol!r} schedule; valid: {', '.join(list_protocols(name))}")
    return _SCHEDULES[name][protocol]


def get_reported(name):
    _check_name(name)
    return _REPORTED.get(name, ())


def deviations(name, options):
    """How a run with these builder options departs from the paper (recorded in its results)."""
    _check_name(name)
    accepted = inspect.signature(_BUILDERS[name]).parameters
    found = []
    if "backbone_weights" in accepted and not options.get("backbone_weights"):
        found.append("random init: no ImageNet VGG16 weights (the paper initialises the encoder from them)")
    found += [f"{key}={value!r} (paper: {accepted[key].default!r})" for key, value in options.items()
              if key != "backbone_weights" and key in accepted and value != accepted[key].default]
    return found


__all__ = ["WeightRecord", "build_model", "deviations", "get_reported", "get_schedule", "get_weights", "list_models",
           "list_protocols", "list_weights", "resolve_checkpoint"]
