from segpapers.papers.deconvnet.model import build_deconvnet
from segpapers.papers.deconvnet.schedule import REPORTED, SCHEDULES

MODELS = {"deconvnet": build_deconvnet}

__all__ = ["MODELS", "REPORTED", "SCHEDULES"]
