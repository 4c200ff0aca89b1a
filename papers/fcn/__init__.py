from segpapers.papers.fcn.model import build_fcn8s, build_fcn16s, build_fcn32s
from segpapers.papers.fcn.schedule import REPORTED, SCHEDULES

MODELS = {"fcn32s": build_fcn32s, "fcn16s": build_fcn16s, "fcn8s": build_fcn8s}

__all__ = ["MODELS", "REPORTED", "SCHEDULES"]
