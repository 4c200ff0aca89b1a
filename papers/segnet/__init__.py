from segpapers.papers.segnet.model import build_segnet, build_segnet_basic
from segpapers.papers.segnet.schedule import REPORTED, SCHEDULES

MODELS = {"segnet": build_segnet, "segnet_basic": build_segnet_basic}

__all__ = ["MODELS", "REPORTED", "SCHEDULES"]
