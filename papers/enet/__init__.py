from segpapers.papers.enet.model import build_enet
from segpapers.papers.enet.schedule import REPORTED, SCHEDULES

MODELS = {"enet": build_enet}

__all__ = ["MODELS", "REPORTED", "SCHEDULES"]
