from segpapers.papers.unet.model import build_unet, build_unet_same
from segpapers.papers.unet.schedule import REPORTED, SCHEDULES

MODELS = {"unet": build_unet, "unet_same": build_unet_same}

__all__ = ["MODELS", "REPORTED", "SCHEDULES"]
